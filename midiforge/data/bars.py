"""Bar-level editing of token sequences: split into bars, keep or drop one track's notes, and
build / merge infilling examples.

A bar is ``Bar <controls/TimeSig...> (Position_p (Program_q Pitch_n [Velocity] Duration_d)+)*``.
Working on tokens (not on MIDI) keeps infilling exact: the context the model sees at training time
is built by the same function the ``infill`` command uses on a user's file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from midiforge.data import vocab
from midiforge.errors import MidiforgeError

if TYPE_CHECKING:
    from midiforge.data.codec import Codec

_NOTE_START = ("Program", "Pitch", "PitchDrum")


@dataclass
class ParsedBar:
    """One bar: header tokens (Bar, Chord, TimeSig, Infill_Gap), then notes grouped by position."""

    header: list[int]
    events: list[tuple[int | None, list[list[int]]]] = field(default_factory=list)  # (position id, notes)

    def ids(self) -> list[int]:
        out = list(self.header)
        for position, notes in self.events:
            if not notes:
                continue
            if position is not None:
                out.append(position)
            for note in notes:
                out.extend(note)
        return out


def partition_bars(codec: Codec, ids: Sequence[int]) -> tuple[list[int], list[list[int]], list[int]]:
    """(prefix before the first Bar, bars each starting with Bar, trailing EOS/PAD tokens)."""
    ids = [int(i) for i in ids]
    starts = [i for i, t in enumerate(ids) if t == codec.bar_id]
    if not starts:
        return ids, [], []
    end = len(ids)
    while end > starts[-1] + 1 and codec.type_of[ids[end - 1]] == "Special":
        end -= 1
    bounds = starts + [end]
    bars = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return ids[: starts[0]], bars, ids[end:]


def parse_bar(codec: Codec, bar: Sequence[int]) -> ParsedBar:
    types = codec.type_of
    i = 1
    while i < len(bar) and types[bar[i]] not in ("Position",) + _NOTE_START:
        i += 1
    parsed = ParsedBar(header=list(bar[:i]))
    position: int | None = None
    notes: list[list[int]] = []
    for tok in bar[i:]:
        kind = types[tok]
        if kind == "Position":
            if notes or position is not None:
                parsed.events.append((position, notes))
            position, notes = tok, []
        elif kind == "Program" or (kind in _NOTE_START and not (notes and types[notes[-1][-1]] == "Program")):
            notes.append([tok])  # a note starts at its Program token (or at Pitch without programs)
        elif notes:
            notes[-1].append(tok)
    if notes or position is not None:
        parsed.events.append((position, notes))
    return parsed


def note_program(codec: Codec, note: Sequence[int]) -> int:
    first = note[0]
    if codec.type_of[first] == "Program":
        return int(codec.value_of[first])
    return -1 if codec.type_of[first] == "PitchDrum" else 0


def filter_bar(codec: Codec, bar: ParsedBar, programs: Iterable[int] | None, keep: bool) -> ParsedBar:
    """Keep (``keep=True``) or drop the notes whose program is in ``programs`` (None = all)."""
    wanted = None if programs is None else set(programs)
    out = ParsedBar(header=list(bar.header))
    for position, notes in bar.events:
        chosen = [n for n in notes if (wanted is None or note_program(codec, n) in wanted) == keep]
        if chosen:
            out.events.append((position, chosen))
    return out


def merge_bars(codec: Codec, base: ParsedBar, extra: ParsedBar) -> ParsedBar:
    """Notes of both bars in time order; the header (chord, time signature) of ``base``."""
    by_position: dict[int, list[list[int]]] = {}
    for position, notes in list(base.events) + list(extra.events):
        by_position.setdefault(-1 if position is None else position, []).extend(notes)
    order = sorted(by_position, key=lambda p: -1 if p < 0 else codec.value_of[p])
    return ParsedBar(header=list(base.header), events=[(None if p < 0 else p, by_position[p]) for p in order])


def target_programs(target: str) -> set[int] | None:
    """Programs a role occupies in the stream (``full`` = all tracks)."""
    vocab.check_role(target)
    return None if target == "full" else {vocab.ROLE_PROGRAMS[target]}


def build_infill_example(
    codec: Codec,
    ids: Sequence[int],
    gap: tuple[int, int],
    target: str,
    with_answer: bool = True,
    max_len: int | None = None,
) -> list[int]:
    """``prefix + context (target notes removed inside the gap, Infill_Gap after the gap's first Bar)
    + Infill_Start Role_<target> [+ target's gap bars + Infill_End]``.

    With ``max_len``, whole bars far from the gap are dropped from the context until it fits.
    """
    prefix, bars, _ = partition_bars(codec, ids)
    start, end = gap
    if not 0 <= start < end <= len(bars):
        raise MidiforgeError(f"infill gap bars {start}..{end} outside the piece's {len(bars)} bars")
    programs = target_programs(target)
    parsed = [parse_bar(codec, b) for b in bars[start:end]]
    context_gap = [filter_bar(codec, p, programs, keep=False).ids() for p in parsed]
    context_gap[0].insert(1, codec.id("Infill_Gap"))
    answer: list[int] = []
    if with_answer:
        for p in parsed:
            answer.extend(filter_bar(codec, p, programs, keep=True).ids())
        answer.append(codec.id("Infill_End"))
    before, after = bars[:start], bars[end:]
    while True:
        body = [t for b in before + context_gap + after for t in b]
        out = prefix + body + [codec.id("Infill_Start"), codec.role_id(target)] + answer
        if max_len is None or len(out) <= max_len or not (before or after):
            return out
        if after and (len(after) >= len(before)):
            after = after[:-1]
        else:
            before = before[1:]


def merge_infill(codec: Codec, ids: Sequence[int]) -> list[int]:
    """Put the answer of an infill sequence back into its gap: a plain sequence again."""
    ids = [int(i) for i in ids]
    gap_tok, start_tok, end_tok = (codec.id(t) for t in vocab.INFILL_TOKENS)
    s = ids.index(start_tok)
    answer = ids[s + 2 :]
    if end_tok in answer:
        answer = answer[: answer.index(end_tok)]
    prefix, bars, tail = partition_bars(codec, ids[:s])
    gap_at = next((i for i, b in enumerate(bars) if gap_tok in b), None)
    if gap_at is None:
        raise MidiforgeError("infill sequence has Infill_Start but no Infill_Gap")
    bars[gap_at] = [t for t in bars[gap_at] if t != gap_tok]
    _, answer_bars, _ = partition_bars(codec, answer)
    for offset, extra in enumerate(answer_bars):
        if gap_at + offset >= len(bars):
            bars.append(extra)
            continue
        merged = merge_bars(codec, parse_bar(codec, bars[gap_at + offset]), parse_bar(codec, extra))
        bars[gap_at + offset] = merged.ids()
    return prefix + [t for b in bars for t in b] + tail
