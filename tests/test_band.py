"""The band corpus: chord charts from melodies, and arrangements rendered by Debian's mma."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import symusic

from midiforge.data import band
from midiforge.music.chords import Chord
from midiforge.music.dynamics import DYNAMICS
from midiforge.music.keys import parse_key

TPQ = band.TPQ
BAR = 4 * TPQ


def _melody(bars: list[list[int]], meter=(4, 4)) -> np.ndarray:
    """One note per beat."""
    beat = TPQ * 4 // meter[1]
    rows = []
    for b, pitches in enumerate(bars):
        for i, p in enumerate(pitches):
            rows.append((b * beat * meter[0] + i * beat, beat, p))
    return np.asarray(rows, np.int64)


def test_harmonize_follows_the_tune_and_ends_on_the_tonic():
    c = parse_key("C major")
    tune = [[60, 64, 67, 64], [65, 69, 72, 69], [67, 71, 74, 71], [60, 64, 67, 72]]  # C F G C arpeggios
    chart = band.harmonize(_melody(tune), c, 4, BAR, TPQ, per_bar=2)
    assert [bar[0] for bar in chart] == [Chord(0, "maj"), Chord(5, "maj"), Chord(7, "maj"), Chord(0, "maj")]
    assert all(1 <= len(bar) <= 2 for bar in chart)


def test_harmonize_in_minor_uses_the_raised_leading_tone_chord():
    a = parse_key("A minor")
    tune = [[69, 72, 76, 72], [68, 71, 76, 71], [69, 72, 76, 81]]  # Am, E (G#), Am
    chart = band.harmonize(_melody(tune), a, 3, BAR, TPQ, per_bar=1)
    assert chart[1][0].root_pc == 4 and chart[1][0].quality in ("maj", "7")
    assert chart[-1] == [Chord(9, "min")]


def test_script_marks_every_tune_and_its_volumes(tmp_path):
    tune = band.Tune("t", _melody([[60] * 4] * 5), (4, 4), 5, parse_key("C major"), [[Chord(0, "maj")]] * 5)
    arr = band.plan_arrangement(tune)
    script = band.mma_script([arr, arr])
    assert script.count("MidiMark start") == 2 and script.count("MidiMark end") == 2
    lines = script.splitlines()
    assert f"Groove {arr.groove}" in script and sum(ln.startswith("Volume ") for ln in lines) == 4  # 4 bars, twice
    after_groove = [lines[i + 1] for i, ln in enumerate(lines) if ln.startswith("Groove ")]
    assert after_groove == [f"AdjustVolume Ratio={round(band.TRACK_SHARE * 100)}"] * 2  # a groove resets it
    assert arr.family.meter == (4, 4) and arr.family.tempo[0] <= arr.tempo <= arr.family.tempo[1]
    other = band.plan_arrangement(band.Tune("t__1", tune.notes, (4, 4), 5, tune.key, tune.chart),
                                  avoid=frozenset({arr.family.name}))
    assert other.family.name != arr.family.name


def test_assemble_cuts_the_tune_out_of_a_shared_render_and_rescales_it():
    tune = band.Tune("t", _melody([[72, 74, 76, 77], [79, 77, 76, 74]], (6, 8)), (6, 8), 2, parse_key("C major"),
                     [[Chord(0, "maj")], [Chord(7, "maj")]])
    arr = band.plan_arrangement(tune)
    render = symusic.Score(192)
    drums, bass = symusic.Track("Drum", is_drum=True), symusic.Track("Bass", program=32)
    for tick in range(1000, 1000 + 12 * 192, 192):  # six quarter-note beats a bar in mma's 6/8
        drums.notes.append(symusic.Note(tick, 48, 36, 100))
        drums.notes.append(symusic.Note(tick, 48, 70, 60))  # maracas: dropped
    bass.notes.append(symusic.Note(1000, 192, 36, 90))
    bass.notes.append(symusic.Note(1000, 96, 48, 90))  # same onset: the bass stays monophonic
    bass.notes.append(symusic.Note(900, 96, 40, 90))  # before the tune: not in it
    render.tracks.extend([drums, bass])
    score = band.assemble(arr, render, (1000, 1000 + 12 * 192))
    by_name = {t.name: t for t in score.tracks}
    assert set(by_name) == {"melody", "bass", "drums"}
    assert [n.time for n in by_name["drums"].notes] == [i * 240 for i in range(12)]  # 8th notes at 480 tpq
    assert len(by_name["bass"].notes) == 1 and by_name["bass"].notes[0].pitch == 36
    texts = [m.text for m in score.markers]
    assert texts.count("C") == 1 and "G" in texts and f"groove:{arr.family.name}" in texts
    assert len({n.velocity for n in by_name["melody"].notes}) > 1  # phrase volume and accents


@pytest.mark.skipif(shutil.which("mma") is None, reason="Debian's mma is not installed")
def test_arrange_batch_renders_real_grooves(tmp_path):
    sources = []
    for k, meter in enumerate([(4, 4), (3, 4), (6, 8)]):
        score = symusic.Score(TPQ)
        score.time_signatures.append(symusic.TimeSignature(0, *meter))
        track = symusic.Track("tune")
        for t, d, p in _melody([[67, 69, 71, 72][: meter[0] if meter[0] < 6 else 3]] * 8, meter):
            track.notes.append(symusic.Note(int(t), int(d), int(p), 80))
        score.tracks.append(track)
        path = tmp_path / f"tune{k}.mid"
        score.dump_midi(str(path))
        sources.append(band.TuneSource(path))
    results = band.arrange_batch(sources, tmp_path)
    assert len(results) == 3 * band.RENDITIONS and all(err is None for _, err in results), results
    from midiforge.evaluation.judge import judge_file

    accompanied = 0
    for name, _ in results:
        score = symusic.Score(str(tmp_path / name))
        roles = {t.name for t in score.tracks}
        assert "melody" in roles and roles <= {"melody", "chords", "bass", "drums"}, (name, roles)
        fig = judge_file(tmp_path / name)
        assert fig.bars == 8 and fig.nc_bars == 0
        assert fig.chord_plays_chord >= 0.75 * fig.chord_bars  # the band plays the chart it was given
        accompanied += len(roles) > 1
    assert accompanied >= len(results) - 1  # (one 6/8 groove, Arpeggio68, plays only an arpeggio)


def test_phrase_dynamics_walk_and_hairpins_step_a_bar():
    tune = band.Tune("t", _melody([[60] * 4] * 14), (4, 4), 14, parse_key("C major"), [[Chord(0, "maj")]] * 14)
    arr = band.plan_arrangement(tune)
    assert len(arr.phrases) == 4 and [arr.phrase_bars(k) for k in range(4)] == [4, 4, 4, 2]
    names = [n for n, _ in DYNAMICS]
    assert all(p.start in names and p.end in names for p in arr.phrases)
    arr.phrases = [band.Phrase("p", "f"), band.Phrase("f", "f"), band.Phrase("mf", "pp"), band.Phrase("pp", "p")]
    volumes, level = arr.bar_volumes(), dict(DYNAMICS)
    assert len(volumes) == 14
    assert volumes[:4] == pytest.approx([level["p"] + (level["f"] - level["p"]) * i / 3 for i in range(4)])
    assert volumes[4:8] == [level["f"]] * 4 and volumes[-2:] == [level["pp"], level["p"]]
    assert band.phrase_commands(arr.phrases[0], 4) == ["Volume p", "Cresc f 4"]
    assert band.phrase_commands(arr.phrases[2], 4) == ["Volume mf", "Decresc pp 4"]
    assert band.phrase_commands(arr.phrases[1], 4) == ["Volume f"]
    # across many tunes the walk reaches every level and draws hairpins both ways
    plans = [band.plan_arrangement(band.Tune(f"t{k}", tune.notes, (4, 4), 14, tune.key, tune.chart)) for k in range(60)]
    phrases = [p for plan in plans for p in plan.phrases]
    assert {p.start for p in phrases} == set(names)
    assert any(level[p.end] > level[p.start] for p in phrases) and any(level[p.end] < level[p.start] for p in phrases)


@pytest.mark.skipif(shutil.which("mma") is None, reason="Debian's mma is not installed")
def test_the_whole_band_follows_a_crescendo(tmp_path):
    """The phrase's dynamics reach every rendered part (mma's Cresc, at the phrase's share)."""
    chart = [[Chord(root, "maj")] for root in (0, 5, 7, 0) * 2]  # chords that change (a held one would not swell)
    tune = band.Tune("swell", _melody([[67, 69, 71, 72]] * 8), (4, 4), 8, parse_key("C major"), chart)
    arr = band.plan_arrangement(tune)
    arr.phrases = [band.Phrase("pp", "pp"), band.Phrase("pp", "ff")]
    (path, err), = band.render_batch([arr], tmp_path)
    assert err is None, err
    score = symusic.Score(str(path))
    for track in score.tracks:
        a = track.notes.numpy()
        bar = a["time"] // BAR
        soft, loud = a["velocity"][bar < 4].mean(), a["velocity"][bar >= 6].mean()
        assert loud > 1.8 * soft, (track.name, soft, loud)  # ff is about three times pp here


def test_arrangements_are_pinned_so_a_rebuilt_corpus_is_the_same():
    """The groove, tempo and phrase dynamics drawn for two tune names, as the corpus ``band-r2``
    was rendered: a change to the draws must bump RENDER_VERSION, not slip in unnoticed."""
    from types import SimpleNamespace

    pinned = {
        ("bwv10.7__0", 13, (4, 4)): ("Strut", 94, [("mf", "mp"), ("mp", "mp"), ("mp", "mp"), ("mp", "mp")]),
        ("Oneill_1__1", 16, (6, 8)): ("Blues68", 90, [("mp", "mp"), ("mp", "f"), ("mf", "mf"), ("mf", "mf")]),
    }
    for (name, n_bars, meter), (groove, tempo, phrases) in pinned.items():
        arr = band.plan_arrangement(SimpleNamespace(name=name, n_bars=n_bars, meter=meter), 0, frozenset({"pop"}))
        assert (arr.groove, arr.tempo, [(p.start, p.end) for p in arr.phrases]) == (groove, tempo, phrases)
        assert len(arr.bar_volumes()) == n_bars
