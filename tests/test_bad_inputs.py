"""Clean failures: every command that takes a file, fed bad files, bad paths and out-of-range
options, exits non-zero with one `Error: ...` line, no traceback, and loses nothing written before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from midiforge.cli import cli
from midiforge.cli.common import run_cli

#: seconds a command may take to refuse its input (a missing limit shows up as a timeout)
REFUSE_WITHIN_S = 120


def midiforge(args: list[str]) -> tuple[int, str]:
    """Run the CLI in a child process (so a command that never ends is cut off): exit code, stderr."""
    try:
        proc = subprocess.run([sys.executable, "-m", "midiforge", *args], capture_output=True, text=True,
                              timeout=REFUSE_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {REFUSE_WITHIN_S} s instead of refusing: midiforge {' '.join(args)}")
    return proc.returncode, proc.stderr


def _song(path: Path, bars: int = 8, notes_per_bar: int = 4) -> Path:
    """A small melody + chord piece in 4/4 (or a huge one with many notes per bar)."""
    import symusic

    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 110.0))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    melody, chords = symusic.Track("Melody", program=73), symusic.Track("Chords", program=0)
    step = 4 * 480 // notes_per_bar
    for bar in range(bars):
        for pc in (0, 4, 7):
            chords.notes.append(symusic.Note(bar * 1920, 1920, 57 + pc, 70))
        for i in range(notes_per_bar):
            melody.notes.append(symusic.Note(bar * 1920 + i * step, step, 69 + (bar + i) % 8, 90))
    score.tracks.extend([melody, chords])
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The bad inputs of tests/test_data_prepare.py, plus a 20 MB MIDI, odd names, an empty folder."""
    import symusic

    root = tmp_path_factory.mktemp("bad inputs")
    good = _song(root / "good" / "good.mid")
    (root / "empty.mid").write_bytes(b"")
    (root / "notes.mid").write_text("these are my notes, not a MIDI file\n")
    (root / "truncated.mid").write_bytes(good.read_bytes()[:60])
    silent = symusic.Score(480)
    silent.tracks.append(symusic.Track("Nothing", program=0))
    silent.dump_midi(str(root / "zero_notes.mid"))
    big = _song(root / "big.mid", bars=20_000, notes_per_bar=128)
    assert big.stat().st_size > 20e6
    (root / "no midi here").mkdir()
    (root / "no midi here" / "readme.txt").write_text("no MIDI in this folder")
    return {
        "good folder": good.parent,
        "empty file": root / "empty.mid",
        "text file": root / "notes.mid",
        "truncated MIDI": root / "truncated.mid",
        "MIDI without notes": root / "zero_notes.mid",
        "20 MB MIDI": big,
        "folder without MIDI": root / "no midi here",
        "missing path": root / "missing.mid",
        "missing, odd name": root / "mé lodie ü 3.mid",
    }


#: command -> arguments, with FILE for the bad input and OUT for an output folder
COMMANDS = {
    "generate --prompt": ["generate", "melody", "--prompt", "FILE", "--n", "1", "--bars", "2", "-o", "OUT"],
    "generate --model": ["generate", "melody", "--model", "FILE", "--n", "1", "--bars", "2", "-o", "OUT"],
    "infill": ["infill", "FILE", "--bars", "1-2", "-o", "OUT/infilled.mid"],
    "vary": ["vary", "FILE", "-o", "OUT/varied.mid"],
    "analyze": ["analyze", "FILE", "-o", "OUT/analysis"],
    "prepare": ["prepare", "FILE", "-o", "OUT/dataset", "--workers", "1"],
    "evaluate": ["evaluate", "FILE", "--reference", "GOOD", "-o", "OUT/eval"],
    "export": ["export", "onnx", "FILE", "-o", "OUT/model.onnx"],
    "inspect --midi": ["inspect", "attention", "MODEL", "--midi", "FILE", "-o", "OUT/attention"],
    "inspect CHECKPOINT": ["inspect", "attention", "FILE", "-o", "OUT/attention"],
    "pipeline": ["pipeline", "FILE", "-o", "OUT/pipeline", "--until", "prepare", "--workers", "1"],
    "train --data": ["train", "--data", "FILE", "-o", "OUT/run", "--max-steps", "1"],
    "train --config": ["train", "--config", "FILE", "-o", "OUT/run", "--max-steps", "1"],
}
# (a type-2 file is read as type 1 by symusic: a readable MIDI, so no bad input for these commands)
BAD = ["empty file", "text file", "truncated MIDI", "MIDI without notes", "20 MB MIDI",
       "folder without MIDI", "missing path", "missing, odd name"]


def _cases():
    for command in COMMANDS:
        for bad in BAD:
            yield pytest.param(command, bad, id=f"{command} <- {bad}")


def _prepared_out(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """An output folder that already holds a file a failing command must not touch."""
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "earlier.mid"
    _song(earlier, bars=2)
    return out, earlier, earlier.read_bytes()


def _args(template: list[str], file: Path, out: Path, model: Path, good: Path) -> list[str]:
    named = {"FILE": file, "MODEL": model, "GOOD": good}
    return [str(named[a]) if a in named else a.replace("OUT", str(out)) for a in template]


def assert_clean_failure(code: int, err: str, out: Path, earlier: Path, before: bytes) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("Error:"), err
    assert earlier.read_bytes() == before  # nothing written earlier is lost
    assert not [p for p in out.rglob("*") if p.is_file() and p != earlier], "a failed command left files"


@pytest.mark.slow
@pytest.mark.parametrize("command, bad", _cases())
def test_a_bad_file_is_one_line_and_loses_nothing(command, bad, inputs, tiny_checkpoint, tmp_path):
    out, earlier, before = _prepared_out(tmp_path)
    code, err = midiforge(_args(COMMANDS[command], inputs[bad], out, tiny_checkpoint, inputs["good folder"]))
    assert_clean_failure(code, err, out, earlier, before)


def test_odd_names_work(tiny_checkpoint, tmp_path, capsys):
    """A file whose name has spaces and non-ASCII letters is read and written like any other."""
    odd = _song(tmp_path / "mes idées" / "mé lodie ü 3.mid")
    code = run_cli(cli, ["infill", str(odd), "--bars", "1-2", "--model", str(tiny_checkpoint), "--backend", "torch",
                         "--seed", "1"])
    assert code == 0, capsys.readouterr().err
    assert (odd.parent / "mé lodie ü 3_infill_1-2.mid").is_file()
    assert run_cli(cli, ["analyze", str(odd.parent), "-o", str(tmp_path / "analysis ü")]) == 0


#: (arguments, text the error names); all on `generate melody`
OUT_OF_RANGE = [
    (["--n-songs", "-1"], "--n-clips"),
    (["--temperature", "0"], "--temperature"),
    (["--temperature", "-1"], "--temperature"),
    (["--velocity-temperature", "0"], "--velocity-temperature"),
    (["--top-p", "2"], "--top-p"),
    (["--bars", "0"], "--bars"),
    pytest.param(["--bars", "10000"], "--bars"),
    (["--tempo", "0"], "--tempo"),
    pytest.param(["--seconds", "100000"], "--seconds"),
]


@pytest.mark.parametrize("args, named", OUT_OF_RANGE)
def test_out_of_range_options_are_one_line(args, named, tiny_checkpoint, tmp_path):
    out, earlier, before = _prepared_out(tmp_path)
    code, err = midiforge(["generate", "melody", "--model", str(tiny_checkpoint), "--backend", "torch",
                           "-o", str(out), *args])
    assert_clean_failure(code, err, out, earlier, before)
    assert named in err


@pytest.mark.parametrize("command", ["infill", "vary"])
@pytest.mark.parametrize("args", [["--temperature", "0"], ["--temperature", "-1"], ["--top-p", "2"],
                                  ["--velocity-temperature", "0"]])
def test_rewrites_check_sampling_options_first(command, args, tmp_path, capsys):
    out, earlier, before = _prepared_out(tmp_path)
    extra = ["--bars", "1-2"] if command == "infill" else []
    code = run_cli(cli, [command, str(_song(tmp_path / "song.mid")), *extra, "-o", str(out / "x.mid"), *args])
    assert_clean_failure(code, capsys.readouterr().err, out, earlier, before)
