"""Turning one encoded piece into training examples: bar-aligned segments, transpositions and
infilling examples.

Segments start at a bar with the full conditioning prefix repeated, so every example can be
generated from scratch the same way. Transposition works on token ids (pitches, key and chord
tokens move together), which is exact and much cheaper than re-encoding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from midiforge.data import bars as barlib
from midiforge.data import vocab
from midiforge.data.codec import Codec


@dataclass(frozen=True)
class ExampleOptions:
    max_seq_len: int = 512
    transpositions: tuple[int, ...] = tuple(range(-5, 7))
    infill_prob: float = 0.25


@dataclass
class Example:
    ids: np.ndarray
    role: str
    transposition: int
    infill: bool


def _cut_bar(codec: Codec, bar: list[int], budget: int) -> list[int]:
    """An over-long bar cut before the last note that still fits (so it stays decodable)."""
    cut = budget
    while cut > 1 and codec.type_of[bar[cut]] not in ("Position", "Program"):
        cut -= 1
    return bar[:cut]


def segment(codec: Codec, ids: Sequence[int], max_len: int) -> list[list[int]]:
    """Split a sequence into bar-aligned pieces of at most ``max_len`` tokens, each starting with
    the prefix; the last keeps the EOS. Segments without notes are dropped."""
    prefix, bars, tail = barlib.partition_bars(codec, ids)
    budget = max_len - len(prefix) - 1  # room for EOS
    if budget < 4:
        raise ValueError(f"max_seq_len {max_len} is too small for the {len(prefix)}-token prefix")
    chunks: list[list[int]] = []
    current: list[int] = []
    for bar in bars:
        if len(bar) > budget:
            bar = _cut_bar(codec, bar, budget)
        if current and len(current) + len(bar) > budget:
            chunks.append(current)
            current = []
        current = current + bar
    if current:
        chunks.append(current)
    out = []
    pitch_types = np.isin(codec.type_of, ("Pitch", "PitchDrum"))
    for n, chunk in enumerate(chunks):
        if pitch_types[np.asarray(chunk)].any():
            out.append(prefix + chunk + (tail if n == len(chunks) - 1 else []))
    return out


def _infill_target(codec: Codec, role: str, gap_bars: list[list[int]], rng: np.random.Generator) -> str:
    if role != "full":
        return role
    programs = {int(codec.value_of[t]) for b in gap_bars for t in b if codec.type_of[t] == "Program"}
    present = [r for r in vocab.FULL_ROLES if vocab.ROLE_PROGRAMS[r] in programs]
    choices = ["full"] + present
    return choices[int(rng.integers(len(choices)))]


def infill_from_segment(
    codec: Codec, seg: list[int], role: str, rng: np.random.Generator, max_len: int
) -> list[int] | None:
    """A random infilling example (gap of 1-4 bars, random target) from a segment, or None."""
    _, bars, _ = barlib.partition_bars(codec, seg)
    if len(bars) < 2:
        return None
    length = int(rng.integers(1, min(4, len(bars) - 1) + 1))
    start = int(rng.integers(0, len(bars) - length + 1))
    target = _infill_target(codec, role, bars[start : start + length], rng)
    out = barlib.build_infill_example(codec, seg, (start, start + length), target, max_len=max_len)
    return out if len(out) <= max_len else None


def piece_examples(
    codec: Codec, views: dict[str, list[int]], options: ExampleOptions, rng: np.random.Generator
) -> Iterator[Example]:
    """Every example of one piece: each view's segments in every transposition that fits the
    pitch range, plus (with probability ``infill_prob``) an infilling example of each."""
    for role, ids in views.items():
        for seg in segment(codec, ids, options.max_seq_len):
            infill = (
                infill_from_segment(codec, seg, role, rng, options.max_seq_len)
                if rng.random() < options.infill_prob
                else None
            )
            for k in options.transpositions:
                moved = codec.transpose_ids(seg, k)
                if moved is None:
                    continue
                yield Example(moved, role, k, False)
                if infill is not None:
                    moved_infill = codec.transpose_ids(infill, k)
                    if moved_infill is not None:
                        yield Example(moved_infill, role, k, True)
