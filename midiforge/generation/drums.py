"""Drum tracks for songs: the model's own when it learned drums, otherwise a drummer plugin's.

The default model is trained on public-domain corpora with no drum tracks, so it cannot write
drums. A *drummer* (registered through the ``register_drummers`` hook) adds a GM channel-10 part
that follows what the model wrote: it sees the finished melody, chords and bass, bar by bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from midiforge.errors import MidiforgeError

if TYPE_CHECKING:
    from midiforge.contracts import Drummer

DEFAULT_DRUMMER = "groove"
MODEL_DRUMS = "model"  # ``--drummer model``: the model writes the drums itself


@dataclass(frozen=True)
class SongLayout:
    """Where a song's bars sit in its form, in ticks of the score being drummed to."""

    form: str  # e.g. "AABA": one letter per section, repeated letters are the same music
    section_bars: int
    meter: tuple[int, int]  # (numerator, denominator)
    tempo: float  # quarter notes per minute
    ticks_per_quarter: int
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.form or self.section_bars < 1 or self.ticks_per_quarter < 1:
            raise MidiforgeError(f"bad song layout: form '{self.form}', {self.section_bars} bars per section, "
                                 f"{self.ticks_per_quarter} ticks per quarter")

    @property
    def n_bars(self) -> int:
        return len(self.form) * self.section_bars

    @property
    def bar_ticks(self) -> int:
        num, den = self.meter
        return self.ticks_per_quarter * 4 * num // den

    def section(self, bar: int) -> tuple[str, int, int]:
        """``(letter, section index, bar within the section)`` of song bar ``bar``."""
        index = min(bar // self.section_bars, len(self.form) - 1)
        return self.form[index], index, bar - index * self.section_bars


def find_drummer(name: str | None) -> Drummer:
    """The registered drummer ``name`` (default: the built-in groove drummer)."""
    from midiforge import contracts

    return contracts.drummer(name or DEFAULT_DRUMMER)
