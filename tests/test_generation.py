"""Each style does what it promises, checked on real generated output of the shipped default model."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import symusic

from midiforge.errors import MidiforgeError
from midiforge.generation import SamplingConfig, StyleOptions, generate
from midiforge.generation.engine import Engine
from midiforge.generation.styles import allowed_pcs
from midiforge.music.chords import parse_chord, recognize_chord
from midiforge.music.keys import estimate_key, parse_key

GRID_TICKS = 480 // 4  # 16th-note grid at the output resolution


def _gen(engine, style, tmp_path, **kw) -> list[Path]:
    seed = kw.pop("seed", 11)
    options = StyleOptions(sampling=SamplingConfig(seed=seed), **kw)
    return generate(style, options, out=tmp_path, engine=engine).files


def _tracks(path: Path) -> dict[str, list]:
    score = symusic.Score(str(path))
    return {t.name: list(t.notes) for t in score.tracks}


def _max_overlap(notes) -> int:
    events = sorted([(n.time, 1) for n in notes] + [(n.end, -1) for n in notes])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def test_melody_and_bass_are_monophonic_and_in_register(engine, tmp_path):
    for style, name, (lo, hi) in [("melody", "Melody", (55, 88)), ("bass", "Bass", (28, 62))]:
        files = _gen(engine, style, tmp_path / style, n=4, bars=8)
        assert len(files) == 4
        counts = []
        for f in files:
            notes = _tracks(f)[name]
            counts.append(len(notes))
            assert len(notes) >= 3, f"{f.name}: too few notes"
            assert _max_overlap(notes) == 1, f"{f.name} is not monophonic"
            assert all(lo <= n.pitch <= hi for n in notes)
        assert np.median(counts) >= 8, counts  # a line, not a handful of held notes


def test_chord_style_sounds_three_or_more_notes_at_most_onsets(engine, tmp_path):
    files = _gen(engine, "chord", tmp_path, n=4, bars=8)
    shares = []
    for f in files:
        notes = _tracks(f)["Chords"]
        onsets = sorted({n.time for n in notes})
        sounding = [sum(1 for n in notes if n.time <= t < n.end) for t in onsets]
        shares.append(np.mean([s >= 3 for s in sounding]))
    assert np.mean(shares) >= 0.6, shares


def test_every_note_is_on_the_beat_grid_and_files_load_everywhere(engine, tmp_path):
    files = _gen(engine, "harmonic", tmp_path, n=2, bars=8, sections="AB")
    for f in files:
        score = symusic.Score(str(f))
        assert all(n.time % GRID_TICKS == 0 for t in score.tracks for n in t.notes)
        pretty_midi.PrettyMIDI(str(f))
        mido.MidiFile(str(f))


def test_harmonic_songs_have_three_named_tracks_one_key_and_asked_length(engine, tmp_path):
    files = _gen(engine, "harmonic", tmp_path, n=3, key="D major", section_bars=4, sections="AABA", tempo=120)
    assert len(files) == 3
    for f in files:
        tracks = _tracks(f)
        assert set(tracks) == {"Melody", "Chords", "Bass"}
        pm = pretty_midi.PrettyMIDI(str(f))
        assert {i.program for i in pm.instruments} == {73, 0, 32}
        assert len({(i.program, i.is_drum) for i in pm.instruments}) == 3
        seconds = 16 * 4 * 60 / 120  # 16 bars of 4/4 at 120 bpm
        assert pm.get_end_time() <= seconds + 1e-6
        assert pm.get_end_time() >= seconds * 0.75
        # one key: every note in D major's scale (a song that never plays G reads as A major to a
        # key profile, so the scale itself is checked), and the file says D major
        d_major = set(parse_key("D major").scale_pcs)
        assert {n.pitch % 12 for notes in tracks.values() for n in notes} <= d_major
        assert [k.key_number for k in pm.key_signature_changes] == [2]  # pretty_midi: 2 is D major


def test_song_form_repeats_the_chorus(engine, tmp_path):
    f = _gen(engine, "harmonic", tmp_path, n=1, section_bars=4, sections="ABA", tempo=120)[0]
    melody = _tracks(f)["Melody"]
    bar = 4 * 480
    first = [(n.time, n.pitch) for n in melody if n.time < 4 * bar]
    last = [(n.time - 8 * bar, n.pitch) for n in melody if n.time >= 8 * bar]
    assert first and first == last


def test_drums_follow_the_song_on_channel_10_and_repeat_with_its_sections(engine, tmp_path):
    f = _gen(engine, "harmonic", tmp_path, n=1, section_bars=4, sections="ABA", tempo=120, drums=True,
             drummer="groove")[0]  # the built-in drummer plugin (the shipped model drums itself by default)
    tracks = _tracks(f)
    assert set(tracks) == {"Melody", "Chords", "Bass", "Drums"}
    drum_channels = {m.channel for m in mido.MidiFile(f) if m.type == "note_on"} - {0, 1, 2}
    assert drum_channels == {9}
    bar = 4 * 480
    drums = [(n.time, n.pitch) for n in tracks["Drums"]]
    kicks = {t for t, p in drums if p == 36}
    bass_onsets = {n.time // GRID_TICKS * GRID_TICKS for n in tracks["Bass"]}
    assert kicks and kicks <= bass_onsets | {b * bar for b in range(12)}, "the kick plays with the model's bass"
    first = [(t, p) for t, p in drums if t < 4 * bar]
    last = [(t - 8 * bar, p) for t, p in drums if t >= 8 * bar]
    assert first and first == last, "a repeated section gets the same drums"


def test_drums_come_from_the_model_when_it_learned_them(engine, tmp_path):
    assert engine.learned_drums, "the shipped model learned the band corpus's drums"
    silent = Engine(engine.codec, engine.backend, engine.backend_name, engine.model_path,
                    training={"role_tokens": {"drums": 0}})
    options = StyleOptions(n=1, bars=4, drums=True, sampling=SamplingConfig(seed=3))
    piece = generate("harmonic", options, out=tmp_path, engine=engine).pieces[0]
    assert piece.meta["drums"] == "model" and piece.meta["drum_notes"] > 0  # asked of the model itself
    piece = generate("harmonic", options, out=tmp_path, engine=silent).pieces[0]
    assert piece.meta["drums"] == "groove" and piece.meta["drum_notes"] > 0  # a model without drums: the plugin
    with pytest.raises(MidiforgeError, match="use `generate harmonic --drums`"):
        generate("melody", options, out=tmp_path, engine=engine)
    with pytest.raises(MidiforgeError, match="unknown drummer 'bongo'"):
        generate("harmonic", replace(options, drummer="bongo"), out=tmp_path, engine=engine)


def test_all_scales_are_in_their_keys(engine, tmp_path):
    """Every note is one the folder key's lock admits, and the key estimator hears its tonic in 80% of clips.

    Four bars can sound like the relative or dominant key with every note in the scale, so the
    tonic is counted over two clips a key: one clip a key is a draw of 24 (the shipped model scored
    19-24 of 24 over seeds, 90% of 192 clips; two clips a key: 41, 40 and 45 of 48 on seeds 11, 1
    and 2)."""
    files = _gen(engine, "all-scales", tmp_path, n=2, bars=4)
    assert len(files) == 48
    agree = 0
    for f in files:
        folder_key = parse_key(f.parent.name.replace("_", " ").replace("s_", "#_"))
        notes = [n for t in symusic.Score(str(f)).tracks for n in t.notes]
        admitted = allowed_pcs(folder_key)
        outside = [n.pitch for n in notes if n.pitch % 12 not in admitted]
        assert not outside, f"{f.parent.name}/{f.name}: {outside} are not in the key"
        estimated = estimate_key([n.pitch for n in notes], [n.duration for n in notes])
        agree += estimated.tonic_pc == folder_key.tonic_pc  # the tonic; 4 bars seldom settle the mode
    assert agree / len(files) >= 0.8, agree


def test_same_seed_gives_identical_files(engine, tmp_path):
    a = _gen(engine, "melody", tmp_path / "a", n=2, bars=4, seed=5)
    b = _gen(engine, "melody", tmp_path / "b", n=2, bars=4, seed=5)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in a]
    assert digest == [hashlib.sha256(p.read_bytes()).hexdigest() for p in b]
    c = _gen(engine, "melody", tmp_path / "c", n=2, bars=4, seed=6)
    assert digest != [hashlib.sha256(p.read_bytes()).hexdigest() for p in c]


def test_asked_chords_are_played_on_at_least_90_percent_of_bars(engine, tmp_path):
    asked = ["Am", "F", "C", "G"]
    files = _gen(engine, "chord", tmp_path, n=20, bars=8, chords=" ".join(asked), seed=3)
    hits = total = 0
    for f in files:
        notes = _tracks(f)["Chords"]
        for bar in range(8):
            in_bar = [n for n in notes if bar * 1920 <= n.time < (bar + 1) * 1920]
            chord = recognize_chord([n.pitch for n in in_bar], [n.duration for n in in_bar])
            hits += chord == parse_chord(asked[bar % 4])
            total += 1
    assert hits / total >= 0.9, hits / total


def test_bass_roots_follow_the_asked_chords(engine, tmp_path):
    asked = ["Am", "F", "C", "G"]
    files = _gen(engine, "bass", tmp_path, n=4, bars=4, chords=" ".join(asked))
    for f in files:
        notes = _tracks(f)["Bass"]
        for bar in range(4):
            first = min((n for n in notes if bar * 1920 <= n.time < (bar + 1) * 1920), key=lambda n: n.time, default=None)
            if first is not None:
                assert first.pitch % 12 == parse_chord(asked[bar]).root_pc


def test_harmonic_writes_its_progression_as_markers(engine, tmp_path):
    f = _gen(engine, "harmonic", tmp_path, n=1, bars=8, sections="AB")[0]
    markers = symusic.Score(str(f)).markers
    assert len(markers) == 8 and all(m.text for m in markers)


def test_prompt_is_continued(engine, tmp_path):
    first = _gen(engine, "melody", tmp_path / "p", n=1, bars=4)[0]
    out = _gen(engine, "melody", tmp_path / "c", n=1, bars=4, prompt=first)[0]
    original = [(n.time, n.pitch) for n in _tracks(first)["Melody"]]
    continued = [(n.time, n.pitch) for n in _tracks(out)["Melody"]]
    assert continued[: len(original)] == original and len(continued) > len(original)


def test_a_prompt_folder_continues_each_of_its_files(engine, tmp_path):
    import shutil

    folder = tmp_path / "ideas"
    folder.mkdir()
    for name, key in (("one", "D major"), ("two", "F minor")):
        shutil.copy(_gen(engine, "melody", tmp_path / name, n=1, bars=2, key=key)[0], folder / f"{name}.mid")
    files = _gen(engine, "melody", tmp_path / "c", n=2, bars=3, prompt=folder)
    assert [f.name.split("_")[0] for f in files] == ["one", "one", "two", "two"]
    for f in files:
        idea = folder / f"{f.name.split('_')[0]}.mid"
        original = [(n.time, n.pitch) for n in _tracks(idea)["Melody"]]
        assert [(n.time, n.pitch) for n in _tracks(f)["Melody"]][: len(original)] == original


def test_scale_lock_keeps_every_pitch_in_key(engine, tmp_path):
    from midiforge.generation.styles import allowed_pcs

    files = _gen(engine, "melody", tmp_path, n=3, bars=8, key="E minor", scale_lock=True)
    scale = allowed_pcs(parse_key("E minor"))  # the scale with the minor key's raised 6th and 7th
    for f in files:
        assert all(n.pitch % 12 in scale for n in _tracks(f)["Melody"])


@pytest.mark.slow
def test_shipped_model_exports_to_onnx_and_generates_from_it(tmp_path):
    import subprocess
    import sys

    onnx_path = tmp_path / "default.onnx"
    proc = subprocess.run([sys.executable, "-m", "midiforge", "export", "onnx", "-o", str(onnx_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert onnx_path.exists() and onnx_path.with_suffix(".json").exists()
    files = generate("melody", StyleOptions(n=2, bars=4, sampling=SamplingConfig(seed=2)), out=tmp_path / "out",
                     model=onnx_path, backend="onnx").files
    for f in files:
        assert pretty_midi.PrettyMIDI(str(f)).instruments[0].notes


def test_each_style_writes_into_its_own_folder(tiny_engine, tmp_path):
    folders = {style: _gen(tiny_engine, style, tmp_path, n=1, bars=1)[0].parent.name
               for style in ("melody", "chord", "bass", "random", "harmonic")}
    assert folders == {"melody": "melodies", "chord": "chords", "bass": "basslines", "random": "random",
                       "harmonic": "songs"}


def test_song_forms_and_preset_lengths():
    from midiforge.errors import MidiforgeError
    from midiforge.generation.styles import parse_form

    assert [parse_form(str(n)) for n in (1, 2, 4)] == ["A", "AB", "AABA"]
    assert parse_form(None) == "AABA" and parse_form(" abac ") == "ABAC"
    for bad in ("9", "A-B", "A" * 17):
        with pytest.raises(MidiforgeError):
            parse_form(bad)
    pattern, clip = StyleOptions(seconds=60.0, tempo=120), StyleOptions(seconds=16.0, tempo=120)
    assert (pattern.n_bars(16.0), clip.n_bars(60.0)) == (30, 8)  # --pattern: 60 s; --clip: 16 s (4/4 at 120 bpm)
    assert StyleOptions(seconds=60.0, tempo=90, meter="3/4").n_bars(16.0) == 30
