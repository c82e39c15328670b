"""Loading MIDI files defensively: every way a file can be unusable has one readable reason.

``prepare`` and ``analyze`` see thousands of files from the wild; a bad one is skipped with its
reason (counted in the summary and the report), never allowed to stop the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import symusic

DEFAULT_MAX_MB = 8.0
DEFAULT_MAX_NOTES = 200_000


class BadMidi(Exception):
    """A file that cannot be used; ``str(exc)`` is the reason shown to the user."""


@dataclass(frozen=True)
class LoadLimits:
    max_mb: float = DEFAULT_MAX_MB
    max_notes: int = DEFAULT_MAX_NOTES


def check_header(path: Path, limits: LoadLimits) -> None:
    """Size, magic bytes and MIDI format checks that need no parsing."""
    size = path.stat().st_size
    if size == 0:
        raise BadMidi("empty file")
    if size > limits.max_mb * 1024 * 1024:
        raise BadMidi(f"too large ({size / 1024 / 1024:.1f} MB > {limits.max_mb:g} MB)")
    with open(path, "rb") as fh:
        head = fh.read(14)
    if head[:4] != b"MThd":
        raise BadMidi("not a MIDI file (no MThd header)")
    if len(head) < 14:
        raise BadMidi("corrupt MIDI: truncated header")
    midi_format = int.from_bytes(head[8:10], "big")
    if midi_format == 2:
        raise BadMidi("type-2 MIDI (independent sequences) is not supported")
    if midi_format > 2:
        raise BadMidi(f"corrupt MIDI: unknown format {midi_format}")


def load_score(path: str | Path, limits: LoadLimits | None = None) -> symusic.Score:
    """Parse a MIDI file with symusic, or raise :class:`BadMidi` with the reason."""
    path = Path(path)
    limits = limits or LoadLimits()
    try:
        check_header(path, limits)
    except OSError as exc:
        raise BadMidi(f"unreadable: {exc.strerror or exc}") from None
    try:
        score = symusic.Score(str(path))
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError on broken data
        raise BadMidi(f"corrupt MIDI: {str(exc).splitlines()[0][:160] or type(exc).__name__}") from None
    notes = score.note_num()
    if notes == 0:
        raise BadMidi("no notes")
    if notes > limits.max_notes:
        raise BadMidi(f"too many notes ({notes:,} > {limits.max_notes:,})")
    if all(t.is_drum for t in score.tracks if len(t.notes)):
        raise BadMidi("drums only")
    return score
