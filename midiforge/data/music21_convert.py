"""Convert music21 corpus scores (MusicXML, ABC, Humdrum) into cached MIDI files.

Every piece becomes one ``.mid`` with one named track per part, the score's time signatures and
tempo, and a pickup (anacrusis) shifted so that bar lines land where the notation has them (a
MIDI file's bars always start at tick 0). Writing is atomic and conversion is resumable: a piece
whose ``.mid`` exists is not converted again, and failures are remembered in ``failures.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import symusic

from midiforge import atomic
from midiforge.data.workers import WorkerDied, pool_context, run_jobs  # noqa: F401 (pool_context: plugins import it here)

TPQ = 480
#: Bump when conversion improves: failures remembered by an older converter are retried.
CONVERTER_VERSION = 2


@dataclass(frozen=True)
class PieceSource:
    """One piece to convert: a corpus path or an ABC tune text, and the .mid it becomes."""

    out: Path
    path: str | None = None  # music21 corpus path (parsed with corpus.parse)
    abc: str | None = None  # ABC text of one tune
    parts: tuple[str, ...] | None = None  # keep only these part names (lower case), in this order
    default_tempo: float = 100.0
    program: int = 0


def _pickup_shift(part) -> float:
    measures = part.getElementsByClass("Measure")
    return float(measures[0].paddingLeft) if len(measures) else 0.0


def _part_notes(part, shift: float) -> list[symusic.Note]:
    from music21 import harmony

    notes = []
    for element in part.stripTies().flatten().notes:
        if isinstance(element, harmony.ChordSymbol) or element.quarterLength <= 0:
            continue
        start = int(round((float(element.offset) + shift) * TPQ))
        duration = int(round(float(element.quarterLength) * TPQ))
        for pitch in element.pitches:
            notes.append(symusic.Note(start, duration, int(pitch.midi), 80))
    return notes


def _mean_pitch(part) -> float:
    pitches = [p.midi for n in part.flatten().notes for p in n.pitches]
    return sum(pitches) / len(pitches) if pitches else 0.0


def _select_parts(parts: list, names: list[str], wanted: tuple[str, ...]) -> tuple[list, list[str]]:
    """The wanted parts by name (``"Tenor Viola"`` counts as tenor); unnamed parts (some Humdrum
    files) are named top voice first."""
    chosen = []
    for w in wanted:
        match = next(
            (p for n, p in zip(names, parts, strict=True) if n.lower() == w or n.lower().startswith(w + " ")),
            None,
        )
        if match is None:
            break
        chosen.append(match)
    if len(chosen) == len(wanted):
        return chosen, [w.capitalize() for w in wanted]
    if not any(names) and len(parts) == len(wanted):
        ordered = sorted(parts, key=_mean_pitch, reverse=True)
        return ordered, [w.capitalize() for w in wanted]
    raise ValueError(f"expected parts {wanted}, found {names}")


def score_to_symusic(m21score, source: PieceSource) -> symusic.Score:
    """music21 Score -> symusic Score (tracks named after the parts)."""
    parts = list(m21score.parts) or [m21score]
    names = [(p.partName or "").strip() for p in parts]
    if source.parts is not None:
        parts, names = _select_parts(parts, names, source.parts)
    shift = _pickup_shift(parts[0])
    out = symusic.Score(TPQ)
    for ts in parts[0].recurse().getElementsByClass("TimeSignature"):
        offset = float(ts.getOffsetInHierarchy(parts[0]))
        tick = 0 if offset <= 0 else int(round((offset + shift) * TPQ))
        out.time_signatures.append(symusic.TimeSignature(tick, ts.numerator, ts.denominator))
    marks = list(m21score.recurse().getElementsByClass("MetronomeMark"))
    bpm = next((m.getQuarterBPM() for m in marks if m.getQuarterBPM()), None) or source.default_tempo
    out.tempos.append(symusic.Tempo(0, float(bpm)))
    for index, (part, name) in enumerate(zip(parts, names, strict=True)):
        name = name or f"part {index + 1}"
        track = symusic.Track(name, program=source.program)
        track.notes.extend(_part_notes(part, shift))
        out.tracks.append(track)
    return out


def convert_piece(source: PieceSource) -> tuple[Path, str | None]:
    """Parse and write one piece; returns (out path, error or None). Never raises."""
    try:
        from music21 import converter, corpus

        if source.abc is not None:
            m21 = converter.parse(source.abc, format="abc")
        elif Path(source.path).is_absolute():
            m21 = converter.parse(source.path)
        else:
            m21 = corpus.parse(source.path)
        score = score_to_symusic(m21, source)
        if score.note_num() == 0:
            return source.out, "no notes"
        with atomic.atomic_path(source.out) as tmp:
            score.dump_midi(str(tmp))
        return source.out, None
    except Exception as exc:  # a piece music21 cannot read is reported, never fatal
        return source.out, f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def convert_all(
    sources: Sequence[PieceSource],
    folder: Path,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Convert the pieces not yet in ``folder`` (in parallel); return the .mid paths that exist."""
    failures_path = folder / "failures.json"
    saved = json.loads(failures_path.read_text()) if failures_path.exists() else {}
    failures: dict[str, str] = saved.get("failures", {}) if saved.get("version") == CONVERTER_VERSION else {}
    todo = [s for s in sources if not s.out.exists() and s.out.name not in failures]
    done = len(sources) - len(todo)
    if on_progress:
        on_progress(done, len(sources))
    if todo:
        if workers > 1 and len(todo) > 1:
            # a piece whose worker died is left out, not remembered as a failure: the next run retries it
            results = ((todo[i].out, None) if isinstance(r, WorkerDied) else r for i, r in run_jobs(convert_piece, todo, workers))
            _record(results, failures, done, len(sources), on_progress)
        else:
            _record(map(convert_piece, todo), failures, done, len(sources), on_progress)
        data = {"version": CONVERTER_VERSION, "failures": failures}
        atomic.write_text(failures_path, json.dumps(data, indent=1, sort_keys=True))
    return [s.out for s in sources if s.out.exists()]


def _record(results, failures: dict[str, str], done: int, total: int, on_progress) -> None:
    for out, error in results:
        if error is not None:
            failures[out.name] = error
        done += 1
        if on_progress:
            on_progress(done, total)


_TUNE_START = re.compile(r"(?m)^(?=X:)")
_TUNE_NUMBER = re.compile(r"^X:\s*(\d+)")


def split_abc(text: str) -> list[tuple[str, str]]:
    """Split an ABC book into (tune number, tune text), the book's header prepended to each tune."""
    chunks = _TUNE_START.split(text)
    header = chunks[0] if chunks and not chunks[0].startswith("X:") else ""
    tunes = []
    for chunk in chunks:
        match = _TUNE_NUMBER.match(chunk)
        if match:
            tunes.append((match.group(1), header + chunk))
    return tunes
