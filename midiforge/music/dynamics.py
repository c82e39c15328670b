"""Phrase dynamics: the four-bar loudness walk of the band corpus.

The corpus builder (:mod:`midiforge.data.band`) has ``mma`` render it under every tune, and the
song style asks the model for one like it, bar by bar, because a model sampling freely follows its
own earlier velocities and flattens a song's dynamics; nothing else tells it that a phrase swells.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Phrase dynamics, softest to loudest: MMA's volume names with MMA's own multipliers
#: (``MMA/volume.py``).
DYNAMICS = (("pp", 0.25), ("p", 0.40), ("mp", 0.70), ("mf", 1.10), ("f", 1.30), ("ff", 1.60))
#: The share of a note's loudness that is the groove's own (MMA's ``AdjustVolume Ratio``); the rest
#: follows the phrase. MMA's default, 0.6, leaves ``p`` and ``f`` 30% apart, so the corpus taught
#: only five of the codec's velocity levels a track; at 0.3 a ``pp`` phrase is a third of an ``ff``.
TRACK_SHARE = 0.3
#: The melody's velocity at MMA's full volume (the grooves' parts sit around 80-100 there).
MELODY_BASE = 84
PHRASE_BARS = 4


@dataclass(frozen=True)
class Phrase:
    """A phrase's dynamics: it starts at ``start`` and ends at ``end`` (a hairpin when they differ),
    over ``bars`` bars (fewer where the piece ends first)."""

    start: str
    end: str
    bars: int = PHRASE_BARS


def phrase_walk(rng: random.Random, n_bars: int, extremes_held: bool = True,
                section_bars: int | None = None) -> list[Phrase]:
    """One phrase per four bars: a phrase holds its level (half the time), swells or fades by one
    or two levels, and the next phrase starts where it ended or a level away (a subito change).

    ``extremes_held=False`` starts every phrase between ``p`` and ``f``, so ``pp`` and ``ff`` are
    only where a swell or a fade arrives: a song's walk cannot settle at an extreme, where the
    velocities are pinned to the codec's few top or bottom levels for the rest of the song.
    ``section_bars``: phrases start afresh at every section (a section of 10 bars has phrases of
    4, 4 and 2), so no swell runs across a section's end."""
    names = [v for v, _ in DYNAMICS]
    top = len(names) - 1
    lowest, highest = (0, top) if extremes_held else (1, top - 1)
    level = rng.choice([1, 2, 3, 3, 4])
    phrases = []
    for bars in _phrase_lengths(n_bars, section_bars or n_bars):
        shape = rng.choices((0, 1, -1), weights=(5, 3, 2))[0] if bars >= 2 else 0
        end = min(top, max(0, level + shape * rng.choice([1, 2])))
        phrases.append(Phrase(names[level], names[end], bars))
        level = min(highest, max(lowest, end + rng.choice([-1, 0, 0, 1])))
    return phrases


def _phrase_lengths(n_bars: int, section_bars: int) -> list[int]:
    out = []
    for first in range(0, n_bars, max(1, section_bars)):
        left = min(section_bars, n_bars - first)
        out += [min(PHRASE_BARS, left - k) for k in range(0, left, PHRASE_BARS)]
    return out


def louder(a: str, b: str) -> bool:
    """Whether dynamic ``a`` is louder than ``b``."""
    level = dict(DYNAMICS)
    return level[a] > level[b]


def phrase_length(k: int, n_bars: int) -> int:
    """Bars in phrase ``k`` of ``n_bars`` (the last may be short)."""
    return min(PHRASE_BARS, n_bars - PHRASE_BARS * k)


def bar_volumes(phrases: list[Phrase], n_bars: int) -> list[float]:
    """MMA's master volume in each bar: a hairpin moves one even step a bar, as ``mma`` plays it."""
    level = dict(DYNAMICS)
    out: list[float] = []
    for phrase in phrases:
        bars, a, b = min(phrase.bars, n_bars - len(out)), level[phrase.start], level[phrase.end]
        out += [a + (b - a) * i / max(1, bars - 1) for i in range(bars)]
    return out


def band_velocity(volume: float) -> float:
    """The velocity the band centres on at master ``volume`` (the melody's, before its accents)."""
    return MELODY_BASE * (TRACK_SHARE + (1 - TRACK_SHARE) * volume)
