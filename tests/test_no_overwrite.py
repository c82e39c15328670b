"""Nothing a user made is lost: generated files are never replaced without --overwrite (not by a
re-run, not by a concurrent run), and written files get the usual permissions."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest
import symusic

from midiforge.atomic import atomic_path, create_new, sweep_stale
from midiforge.generation.pieces import Piece, write_piece


def _piece(pitch: int, stem: str) -> Piece:
    score = symusic.Score(480)
    track = symusic.Track("Melody", program=73)
    track.notes.append(symusic.Note(0, 480, pitch, 90))
    score.tracks.append(track)
    return Piece(score, "melodies", stem)


def _write_twenty(out: str, first_pitch: int, barrier) -> None:
    barrier.wait()
    for i in range(20):
        write_piece(_piece(first_pitch + i, f"melody_C_major_120bpm_noseed_{i:03d}"), Path(out))


def test_two_concurrent_runs_keep_all_their_files(tmp_path):
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    barrier = ctx.Barrier(2)
    runs = [ctx.Process(target=_write_twenty, args=(str(tmp_path), p, barrier)) for p in (40, 70)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
        assert run.exitcode == 0
    files = sorted((tmp_path / "melodies").iterdir())
    assert len(files) == 40 and all(f.suffix == ".mid" for f in files)  # no temporary files either
    pitches = sorted(symusic.Score(str(f)).tracks[0].notes[0].pitch for f in files)
    assert pitches == list(range(40, 60)) + list(range(70, 90))  # every piece of both runs is there


def test_rerun_numbers_onward_and_overwrite_replaces(tmp_path):
    first = [write_piece(_piece(60 + i, f"melody_C_major_120bpm_noseed_{i:03d}"), tmp_path) for i in range(2)]
    again = [write_piece(_piece(70 + i, f"melody_C_major_120bpm_noseed_{i:03d}"), tmp_path) for i in range(2)]
    assert [p.name for p in first] == ["melody_C_major_120bpm_noseed_000.mid", "melody_C_major_120bpm_noseed_001.mid"]
    assert [p.name for p in again] == ["melody_C_major_120bpm_noseed_002.mid", "melody_C_major_120bpm_noseed_003.mid"]
    assert symusic.Score(str(first[0])).tracks[0].notes[0].pitch == 60  # the first run's file is intact
    seeded = [write_piece(_piece(50, "melody_C_major_120bpm_seed7_000"), tmp_path) for _ in range(2)]
    assert [p.name for p in seeded] == ["melody_C_major_120bpm_seed7_000.mid", "melody_C_major_120bpm_seed7_000-2.mid"]
    replaced = write_piece(_piece(80, "melody_C_major_120bpm_noseed_000"), tmp_path, overwrite=True)
    assert replaced == first[0] and symusic.Score(str(replaced)).tracks[0].notes[0].pitch == 80


def test_generate_cli_never_overwrites_without_the_flag(tiny_checkpoint, tmp_path):
    from midiforge.cli import cli
    from midiforge.cli.common import run_cli

    args = ["generate", "melody", "--n", "2", "--bars", "1", "--key", "C major", "--model", str(tiny_checkpoint), "--backend", "torch",
            "--out", str(tmp_path)]
    assert run_cli(cli, args) == 0
    written = {p: p.read_bytes() for p in (tmp_path / "melodies").iterdir()}
    assert run_cli(cli, args) == 0
    files = sorted((tmp_path / "melodies").iterdir())
    assert [f.name for f in files] == [f"melody_C_major_120bpm_noseed_{i:03d}.mid" for i in range(4)]
    assert all(p.read_bytes() == data for p, data in written.items())
    assert run_cli(cli, [*args, "--overwrite"]) == 0
    assert len(list((tmp_path / "melodies").iterdir())) == 4


def test_out_naming_a_midi_file_writes_the_pieces_themselves(tiny_checkpoint, tmp_path):
    from midiforge.cli import cli
    from midiforge.cli.common import run_cli

    base = ["generate", "melody", "--bars", "1", "--seed", "1", "--model", str(tiny_checkpoint), "--backend", "torch"]
    song = tmp_path / "music" / "my_music.mid"
    assert run_cli(cli, [*base, "--n", "1", "--out", str(song)]) == 0
    assert sorted(p.name for p in song.parent.iterdir()) == ["my_music.mid"]  # a file, not a folder
    first = song.read_bytes()
    assert run_cli(cli, [*base, "--n", "1", "--out", str(song)]) == 0  # taken: the next free name
    assert song.read_bytes() == first and (song.parent / "my_music-2.mid").is_file()
    assert run_cli(cli, [*base, "--n", "2", "--out", str(tmp_path / "set.mid")]) == 0
    assert (tmp_path / "set_000.mid").is_file() and (tmp_path / "set_001.mid").is_file()
    assert symusic.Score(str(tmp_path / "set_001.mid")).note_num() > 0


def test_atomic_writes_have_the_usual_permissions(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))  # safetensors recreates the file as 0600
        made = create_new([tmp_path / "n.txt"], lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(umask)
    for path in (tmp_path / "w.safetensors", made):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_sweep_removes_only_temporary_files(tmp_path):
    (tmp_path / "samples").mkdir()
    stale = [tmp_path / ".training.png.ab12.tmp", tmp_path / "samples" / ".step_1.mid.x.tmp"]
    for path in stale:
        path.write_bytes(b"")
    keep = [tmp_path / "best.safetensors", tmp_path / "notes.tmp", tmp_path / ".hidden"]
    for path in keep:
        path.write_bytes(b"1")
    assert sorted(sweep_stale(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    assert sweep_stale(tmp_path / "missing") == []
    fresh = tmp_path / ".x.mid.1.tmp"
    fresh.write_bytes(b"")
    assert sweep_stale(tmp_path, min_age_s=3600) == [] and fresh.exists()


def test_infill_and_vary_keep_an_earlier_result(tiny_checkpoint, tmp_path):
    from midiforge.cli import cli
    from midiforge.cli.common import run_cli
    from tests.helpers.midi_files import write_song as _write_song

    song = tmp_path / "song.mid"
    _write_song(song, 4, 1)
    model = ["--model", str(tiny_checkpoint), "--backend", "torch", "--seed", "1"]
    assert run_cli(cli, ["infill", str(song), "--bars", "2", *model]) == 0
    first = tmp_path / "song_infill_2.mid"
    kept = first.read_bytes()
    assert run_cli(cli, ["infill", str(song), "--bars", "2", *model, "--seed", "2"]) == 0
    assert first.read_bytes() == kept and (tmp_path / "song_infill_2-2.mid").is_file()
    out = tmp_path / "var.mid"
    assert run_cli(cli, ["vary", str(song), "-o", str(out), *model]) == 0
    assert run_cli(cli, ["vary", str(song), "-o", str(out), *model]) == 0
    assert (tmp_path / "var-2.mid").is_file()
    assert run_cli(cli, ["vary", str(song), "-o", str(out), "--overwrite", *model]) == 0
    assert sorted(p.name for p in tmp_path.glob("var*.mid")) == ["var-2.mid", "var.mid"]
    assert song.read_bytes()  # the user's own file is untouched


@pytest.mark.slow
def test_two_concurrent_generate_commands_keep_all_40_files(tiny_checkpoint, tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "midiforge", "generate", "melody", "--n", "20", "--bars", "1", "--key", "C major",
           "--model", str(tiny_checkpoint), "--backend", "torch", "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-2000:]
    names = sorted(p.name for p in (tmp_path / "melodies").iterdir())
    assert names == [f"melody_C_major_120bpm_noseed_{i:03d}.mid" for i in range(40)]
