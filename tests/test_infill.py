"""Infilling and variation on a user's own file (a Bach chorale written by music21, not by midiforge)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import symusic

from midiforge.data.roles import find_roles
from midiforge.generation.infill import infill, load_song, parse_bars, vary
from midiforge.generation.sampler import SamplingConfig


@pytest.fixture(scope="module")
def chorale(tmp_path_factory):
    import music21

    path = tmp_path_factory.mktemp("song") / "chorale.mid"
    music21.corpus.parse("bach/bwv66.6").write("midi", fp=str(path))
    return path


def _notes(track):
    return [(n.time, n.duration, n.pitch, n.velocity) for n in track.notes]


def _bar_ticks(score):
    return [int(t) for t in score.get_downbeats()]


def test_parse_bars():
    assert parse_bars("5-8") == (4, 8) and parse_bars("3") == (2, 3)
    from midiforge.errors import MidiforgeError

    for bad in ("0-2", "x", "4-2"):
        with pytest.raises(MidiforgeError):
            parse_bars(bad)


@pytest.mark.parametrize("target", ["melody", "full"])
def test_infill_keeps_everything_outside_the_gap(engine, chorale, target):
    score = load_song(chorale)
    downbeats = _bar_ticks(score)
    gap = (3, 5)
    start, end = downbeats[gap[0]], downbeats[gap[1]]
    result = infill(engine, score, gap, target, SamplingConfig(seed=4))
    new = result.score
    assert len(new.tracks) == len(score.tracks)
    for i, (old_t, new_t) in enumerate(zip(score.tracks, new.tracks, strict=True)):
        if i not in result.changed_tracks:
            assert _notes(old_t) == _notes(new_t), f"track {i} changed"
            continue
        outside_old = [n for n in _notes(old_t) if not start <= n[0] < end]
        outside_new = [n for n in _notes(new_t) if not start <= n[0] < end]
        assert outside_old == outside_new, f"track {i}: notes outside the gap changed"
    melody_track = find_roles(score)["melody"][0]
    lo = min(n.pitch for n in score.tracks[melody_track].notes)
    hi = max(n.pitch for n in score.tracks[melody_track].notes)
    gap_notes = [n for n in new.tracks[melody_track].notes if start <= n.time < end]
    assert gap_notes, "the gap was left empty"
    assert all(lo <= n.pitch <= hi for n in gap_notes)
    assert all(n.end <= end for n in gap_notes)


def test_vary_rewrites_a_share_of_bars_and_keeps_the_rest(engine, chorale):
    score = load_song(chorale)
    varied, bars = vary(engine, score, 0.25, "full", SamplingConfig(seed=9), seed=9)
    downbeats = _bar_ticks(score) + [int(score.end()) + 1]
    n_bars = len(_bar_ticks(score))
    assert 1 <= len(bars) <= round(0.25 * n_bars) + 1
    changed = [(downbeats[b - 1], downbeats[b]) for b in bars]

    def untouched(note):
        return not any(a <= note[0] < b for a, b in changed)

    for old_t, new_t in zip(score.tracks, varied.tracks, strict=True):
        assert [n for n in _notes(old_t) if untouched(n)] == [n for n in _notes(new_t) if untouched(n)]
    assert any(_notes(a) != _notes(b) for a, b in zip(score.tracks, varied.tracks, strict=True))
    # Harmony kept: in each rewritten bar the chord and bass parts play the chord the original bar
    # carries (as the codec labels it): its tones only, its root first. (The melody is free: over
    # Bm7 its C# once made a recognizer hear Dmaj7 while the parts played B D F# A.)
    from midiforge.data.bars import partition_bars
    from midiforge.music.chords import Chord

    codec = engine.codec
    roles = find_roles(score)
    parts = sorted(set(roles.get("chords", [])) | set(roles.get("bass", [])))
    _, original_bars, _ = partition_bars(codec, codec.encode(score, roles, role="full"))
    checked = 0
    for bar, (a, b) in zip(bars, changed, strict=True):
        token = next(codec.token(t) for t in original_bars[bar - 1] if codec.type_of[t] == "Chord")
        if token == "Chord_N":
            continue
        chord = Chord.from_token_name(token.removeprefix("Chord_"))
        notes = sorted((n.time, n.pitch) for i in parts for n in varied.tracks[i].notes if a <= n.time < b)
        assert notes and all(p % 12 in chord.pitch_classes for _, p in notes), (bar, token, notes)
        first = [p for t, p in notes if t == notes[0][0]]
        assert min(first) % 12 == chord.root_pc, (bar, token, notes)
        checked += 1
    assert checked


def test_infill_cli(chorale, tmp_path):
    out = tmp_path / "filled.mid"
    proc = subprocess.run([sys.executable, "-m", "midiforge", "infill", str(chorale), "--bars", "2-3",
                           "--track", "bass", "--seed", "1", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert symusic.Score(str(out)).note_num() > 0
    proc = subprocess.run([sys.executable, "-m", "midiforge", "infill", str(chorale), "--bars", "90-99"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "bars" in proc.stderr and "Traceback" not in proc.stderr
