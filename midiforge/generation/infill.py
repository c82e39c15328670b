"""Infilling and variation of a user's MIDI file.

The model sees the whole piece around the gap (the bars before *and after* it, in the
``Infill_Gap … Infill_Start Role_x`` layout it was trained on, see docs/infilling.md) and writes
the gap's bars. The answer is spliced into the *original* file: notes outside the gap, and the
other tracks, are never re-encoded, so they stay bit-for-bit what the user had.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from midiforge.errors import MidiforgeError
from midiforge.generation.sampler import ChordPlan, PartRules, Request, SamplingConfig

ROLES = ("melody", "chords", "bass", "full")
ANSWER_TOKENS_PER_BAR = 120  # room kept in the model's window for each bar of the answer


@dataclass
class InfillResult:
    score: object  # symusic.Score, the original with the gap regenerated
    gap: tuple[int, int]  # 0-based bars, end exclusive
    target: str
    changed_tracks: list[int]


def parse_bars(text: str) -> tuple[int, int]:
    """``"5-8"`` (1-based, inclusive) → (4, 8) (0-based, end exclusive); ``"5"`` is one bar."""
    try:
        first, _, last = text.partition("-")
        a, b = int(first), int(last or first)
    except ValueError:
        raise MidiforgeError(f"bad --bars '{text}' (use e.g. 5-8 or 5)") from None
    if a < 1 or b < a:
        raise MidiforgeError(f"bad --bars '{text}': bars are numbered from 1 and the range must not be empty")
    return a - 1, b


def load_song(path: str | Path):
    import symusic

    from midiforge.limits import check_midi_file

    path = Path(path)
    if not path.is_file():
        raise MidiforgeError(f"file not found: {path}")
    check_midi_file(path, "MIDI file")
    try:
        score = symusic.Score(str(path))
    except Exception as exc:
        raise MidiforgeError(f"cannot read {path.name} as MIDI: {exc}") from None
    if score.note_num() == 0:
        raise MidiforgeError(f"{path.name} has no notes")
    return score


def infill(engine, score, gap: tuple[int, int], target: str = "full", sampling: SamplingConfig | None = None,
           keep_harmony: bool = False, rules: dict[str, Any] | None = None,
           velocity_ranges: list[tuple[int, int] | None] | None = None) -> InfillResult:
    """Regenerate bars ``gap`` of ``target`` (a role, or ``full`` for every track) in ``score``.

    ``keep_harmony``: the chord and bass parts keep each bar's original chord (as with ``--chords``).
    ``rules``: further :class:`Request` fields for the gap (a key lock, where its first note starts).
    ``velocity_ranges``: the velocities each gap bar may take (a song's phrase dynamics).
    """
    return infill_many(engine, score, [gap], target, sampling, keep_harmony, rules, velocity_ranges)[0]


def infill_many(engine, score, gaps: list[tuple[int, int]], target: str = "full",
                sampling: SamplingConfig | None = None, keep_harmony: bool = False,
                rules: dict[str, Any] | None = None,
                velocity_ranges: list[tuple[int, int] | None] | None = None) -> list[InfillResult]:
    """Fill several gaps of the same piece in one batch (each result changes one gap only)."""
    from midiforge.data.roles import find_roles

    if target not in ROLES:
        raise MidiforgeError(f"--track must be one of {', '.join(ROLES)}, not '{target}'")
    codec = engine.codec
    roles = find_roles(score)
    ids = codec.encode(score, roles, role="full")
    from midiforge.data.bars import partition_bars

    _, bars, _ = partition_bars(codec, ids)
    downbeats = [int(t) for t in score.get_downbeats()]
    for _, end in gaps:
        if end > len(bars):
            raise MidiforgeError(f"--bars reaches bar {end} but the piece has {len(bars)} bars")
    track_ids = _target_tracks(roles, target)
    if not track_ids:
        raise MidiforgeError(f"the piece has no {target} track to regenerate")
    reqs = [replace(_request(engine, score, roles, ids, bars, gap, target, keep_harmony), **(rules or {}))
            for gap in gaps]
    if velocity_ranges:
        reqs = [replace(r, chords=replace(r.chords, velocity_ranges=list(velocity_ranges))) for r in reqs]
    answers = engine.run(reqs, sampling or SamplingConfig())
    results = []
    for gap, answer in zip(gaps, answers, strict=True):
        new = _splice(engine, score, answer, gap, _destinations(roles, track_ids, target), track_ids, downbeats)
        results.append(InfillResult(new, gap, target, track_ids))
    return results


def _target_tracks(roles: dict[str, list[int]], target: str) -> list[int]:
    if target == "full":
        return sorted({i for r in ("melody", "chords", "bass") for i in roles.get(r, [])})
    others = {i for r, idx in roles.items() if r != target for i in idx}
    own = [i for i in roles.get(target, []) if i not in others] or list(roles.get(target, []))
    return sorted(own)


def _request(engine, score, roles, ids, bars, gap, target, keep_harmony) -> Request:
    codec = engine.codec
    from midiforge.data.bars import build_infill_example

    # Prompt and answer stay inside the window the model was trained on: bars far from the gap,
    # on either side, are dropped until the prompt leaves room for the answer.
    window = engine.context_length
    answer_room = min(window // 2, (gap[1] - gap[0]) * ANSWER_TOKENS_PER_BAR)
    prompt = build_infill_example(codec, ids, gap, target, with_answer=False, max_len=window - answer_room)
    if len(prompt) > window - 16:
        raise MidiforgeError(f"bars {gap[0] + 1}-{gap[1]} hold more than the model's {window}-token window; "
                             "regenerate fewer bars at a time")
    # Keep the harmony: the gap's bars keep their original chord tokens.
    chord_ids = [next((t for t in bars[b] if codec.type_of[t] == "Chord"), codec.chord_id(None)) for b in range(*gap)]
    timesig = next((t for t in bars[gap[0]] if codec.type_of[t] == "TimeSig"), None)
    from midiforge.data.vocab import ROLE_PROGRAMS

    wanted = [r for r in (("melody", "chords", "bass") if target == "full" else (target,)) if roles.get(r)]
    parts = {ROLE_PROGRAMS[r]: PartRules(*_register(score, _target_tracks(roles, r)), monophonic=r in ("melody", "bass"))
             for r in wanted}
    steps = _steps_per_bar(engine, timesig)
    return Request(prompt=prompt, n_bars=gap[1] - gap[0], steps_per_bar=steps, parts=parts, timesig_id=timesig,
                   chords=_harmony_plan(codec, chord_ids, steps, keep_harmony), max_tokens=window - len(prompt))


def _harmony_plan(codec, chord_ids: list[int], steps_per_bar: int, keep_harmony: bool) -> ChordPlan:
    """Each gap bar keeps its chord token; with ``keep_harmony`` the chord and bass parts also play it."""
    from midiforge.data.vocab import ROLE_PROGRAMS
    from midiforge.music.chords import Chord

    names = [codec.token(t).removeprefix("Chord_") for t in chord_ids]
    chords = [None if n in ("N", "None") else Chord.from_token_name(n) for n in names]
    follow = {ROLE_PROGRAMS["chords"]: "root", ROLE_PROGRAMS["bass"]: "root"} if keep_harmony else {}
    return ChordPlan(
        starts=[i * steps_per_bar for i in range(len(chord_ids))],
        pitch_classes=[c.pitch_classes if c and keep_harmony else None for c in chords],
        roots=[c.root_pc if c else 0 for c in chords],
        chord_token_ids=list(chord_ids),
        follow_programs=follow,
    )


def _register(score, track_ids: list[int]) -> tuple[int, int]:
    pitches = [n.pitch for i in track_ids for n in score.tracks[i].notes]
    return (min(pitches), max(pitches)) if pitches else (36, 84)


def _steps_per_bar(engine, timesig_id: int | None) -> int:
    if timesig_id is None:
        return 4 * engine.steps_per_beat
    num, den = (int(x) for x in engine.codec.token(timesig_id).split("_", 1)[1].split("/"))
    return num * engine.steps_per_beat  # MidiTok counts the meter's own beats (6/8: six eighths)


def _splice(engine, score, answer: list[int], gap, destinations: dict[str, int], track_ids, downbeats):
    """The original score with the target tracks' notes starting inside the gap replaced."""
    from midiforge.data.vocab import ROLE_PROGRAMS

    codec = engine.codec
    start_tick = downbeats[gap[0]] if gap[0] < len(downbeats) else int(score.end())
    end_tick = downbeats[gap[1]] if gap[1] < len(downbeats) else int(score.end()) + 1
    generated = codec.decode([codec.bos_id, *answer], tempo_bpm=120.0)
    scale = score.ticks_per_quarter / generated.ticks_per_quarter
    new = score.copy()
    for i in track_ids:
        track = new.tracks[i]
        track.notes = [n for n in track.notes if not (start_tick <= n.time < end_tick)]
    by_program = {int(t.program): t for t in generated.tracks}
    for role, dest in destinations.items():
        source = by_program.get(ROLE_PROGRAMS[role])
        if source is None:
            continue
        velocity = None if codec.learns_velocity else _typical_velocity(new.tracks[dest])
        for note in source.notes:
            n = copy.copy(note)
            n.time = start_tick + round(note.time * scale)
            n.duration = max(1, min(round(note.duration * scale), end_tick - n.time))
            n.velocity = velocity or n.velocity  # the model's dynamics where it learned them
            if n.time < end_tick:
                new.tracks[dest].notes.append(n)
        new.tracks[dest].notes.sort(key=lambda x: (x.time, x.pitch))
    return new


def _destinations(roles: dict[str, list[int]], track_ids: list[int], target: str) -> dict[str, int]:
    """Role -> the track of the original file that receives that role's generated notes."""
    wanted = ("melody", "chords", "bass") if target == "full" else (target,)
    dest = {}
    for role in wanted:
        idx = [i for i in roles.get(role, []) if i in track_ids]
        if idx:
            dest[role] = idx[0]
    return dest


def _typical_velocity(track) -> int:
    vels = sorted(n.velocity for n in track.notes)
    return vels[len(vels) // 2] if vels else 90


def vary(engine, score, strength: float = 0.3, target: str = "full", sampling: SamplingConfig | None = None,
         seed: int | None = None):
    """Keep the form and harmony, regenerate about ``strength`` of the bars (same chords per bar)."""
    if not 0 < strength <= 1:
        raise MidiforgeError("--strength must be in (0, 1]")
    from midiforge.data.bars import partition_bars
    from midiforge.data.roles import find_roles

    _, bars, _ = partition_bars(engine.codec, engine.codec.encode(score, find_roles(score), role="full"))
    n = len(bars)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(n), max(1, round(strength * n))))
    out = score
    for bar in chosen:  # one bar at a time: every gap sees the already varied music around it
        out = infill(engine, out, (bar, bar + 1), target, sampling, keep_harmony=True).score
    return out, [b + 1 for b in chosen]
