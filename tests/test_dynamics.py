"""The phrase-dynamics walk shared by the band corpus and the song style."""

from __future__ import annotations

import random

from midiforge.music.dynamics import DYNAMICS, band_velocity, bar_volumes, phrase_walk
from plugins.harmonic import PHRASE_LOUDNESS_RANGE, dynamics_marks, phrase_ranges


def test_the_walk_has_a_phrase_per_four_bars_and_moves_at_most_two_levels_a_phrase():
    names = [n for n, _ in DYNAMICS]
    for seed in range(50):
        walk = phrase_walk(random.Random(seed), 13)
        assert len(walk) == 4
        assert len(bar_volumes(walk, 13)) == 13
        for phrase in walk:
            assert abs(names.index(phrase.end) - names.index(phrase.start)) <= 2
        assert walk[-1].start == walk[-1].end  # a one-bar phrase cannot swell
        assert walk == phrase_walk(random.Random(seed), 13)
    starts = {phrase_walk(random.Random(seed), 8)[0].start for seed in range(50)}
    assert starts == {"p", "mp", "mf", "f"}  # a song never opens at the extremes


def test_ranges_follow_the_phrases_loudness():
    walk = phrase_walk(random.Random(3), 16)
    ranges = phrase_ranges(walk, 4, 8)
    assert len(ranges) == 8
    for (lo, hi), volume in zip(ranges, bar_volumes(walk, 16)[4:12], strict=True):
        assert hi - lo == 2 * PHRASE_LOUDNESS_RANGE
        assert abs((lo + hi) / 2 - band_velocity(volume)) <= 1
    assert band_velocity(0.25) < band_velocity(1.1) < band_velocity(1.6)


def test_marks_name_swells_fades_and_sections():
    from midiforge.music.dynamics import Phrase

    walk = [Phrase("p", "f"), Phrase("f", "f"), Phrase("ff", "mp")]
    assert dynamics_marks(walk, ["A", "B", "C"], 4) == "A: p<f | B: f | C: ff>mp"
    sections = [Phrase("p", "f"), Phrase("f", "f", 2), Phrase("ff", "mp"), Phrase("mp", "mp", 2)]
    assert dynamics_marks(sections, ["A", "B"], 6) == "A: p<f f | B: ff>mp mp"


def test_phrases_start_afresh_at_every_section():
    walk = phrase_walk(random.Random(5), 30, extremes_held=False, section_bars=10)
    assert [p.bars for p in walk] == [4, 4, 2] * 3
    assert len(bar_volumes(walk, 30)) == 30
    assert [p.bars for p in phrase_walk(random.Random(5), 10)] == [4, 4, 2]  # one section: the corpus's phrases


def test_a_songs_walk_only_reaches_the_extremes_at_the_end_of_a_swell_or_fade():
    corpus_settles = False
    for seed in range(200):
        song = phrase_walk(random.Random(seed), 40, extremes_held=False)
        assert all(p.start not in ("pp", "ff") for p in song)
        corpus_settles |= any(p.start in ("pp", "ff") for p in phrase_walk(random.Random(seed), 40))
    assert corpus_settles  # the corpus's own walk can settle there, so the song's limit is doing something
