"""Built-in drummer, registered through the public ``register_drummers`` hook.

The groove *follows* the model's parts instead of looping: the kick plays the bass's onsets, the
hats are as busy as the melody, ghost notes answer the melody and the dynamics follow the band.
The meter and the form only decide where the backbeat, the crash and the fills go. Every bar is
drummed from that bar's notes and its place in the form alone (the ``Drummer`` contract), so
repeated sections get the same drums and a partial song drums like the start of the full one.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import fmean

import symusic

from midiforge import hookimpl
from midiforge.errors import MidiforgeError
from midiforge.generation.drums import SongLayout
from midiforge.hookspecs import Register

KICK, SNARE, CLOSED_HAT, RIDE, CRASH = 36, 38, 42, 51, 49
FILL = (SNARE, 50, 47, 45, 43)  # snare, then the toms from high to low


@dataclass(frozen=True)
class Grid:
    """A bar cut into 16ths (or the meter's unit when shorter); ``pulse`` steps per counted beat."""

    steps: int
    pulse: int
    eighth: int

    @classmethod
    def of(cls, meter: tuple[int, int]) -> Grid:
        num, den = meter
        unit = max(16, den)
        compound = den >= 8 and num % 3 == 0 and num > 3  # 6/8, 9/8, 12/8 count dotted pulses
        return cls(num * unit // den, unit // den * (3 if compound else 1), unit // 8)

    @property
    def pulses(self) -> int:
        return self.steps // self.pulse

    def backbeats(self, b_type: bool) -> set[int]:
        """Snare steps: the even beats (4/4: 2 and 4; 6/8: the second pulse), 3 in three."""
        beats = ([1, 2] if b_type else [2]) if self.pulses == 3 else range(1, self.pulses, 2)
        return {b * self.pulse for b in beats}


@dataclass
class Heard:
    """What the drummer hears in one bar: onset steps on the bar's grid, and the band's loudness."""

    kick: set[int] = field(default_factory=set)  # where the kick may play
    lead: set[int] = field(default_factory=set)
    velocities: list[int] = field(default_factory=list)


def _role(track: symusic.Track) -> str:
    """``bass``, ``melody`` or ``chords`` from the track's name and program, never its notes
    (notes of other bars must not change how this bar is heard)."""
    name = track.name.strip().lower()
    if name == "bass" or 32 <= track.program <= 39:
        return "bass"
    return "melody" if name == "melody" else "chords"


def listen(score: symusic.Score, layout: SongLayout, grid: Grid) -> list[Heard]:
    """Each bar's onsets: the kick follows the bass (else everyone), the hats the melody (else the
    chords, else the bass). Drum tracks and notes outside the song are ignored."""
    tracks = [t for t in score.tracks if not t.is_drum]
    roles = {_role(t) for t in tracks}
    lead_role = next((r for r in ("melody", "chords", "bass") if r in roles), "")
    bars: dict[int, Heard] = defaultdict(Heard)
    for track in tracks:
        role = _role(track)
        for note in track.notes:
            bar, offset = divmod(note.time, layout.bar_ticks)
            if not 0 <= bar < layout.n_bars:
                continue
            step, heard = round(offset * grid.steps / layout.bar_ticks), bars[bar]
            if (role == "bass" or "bass" not in roles) and step < grid.steps:  # late: next downbeat
                heard.kick.add(step)
            if role == lead_role:
                heard.lead.add(min(step, grid.steps - 1))
            if role != "bass":
                heard.velocities.append(note.velocity)
    return [bars.get(b, Heard()) for b in range(layout.n_bars)]


@dataclass(frozen=True)
class GrooveDrummer:
    """Kick, snare and hats that follow the model's bass and melody, coloured by the form."""

    name: str = "groove"
    description: str = (
        "Kick on the model's bass, meter backbeat, hats as busy as the melody, crashes and fills."
    )
    kicks_per_beat: float = 1.0  # a busier bass is thinned to this many kicks: beats, then 8ths
    busy: float = 1.5  # melody onsets per beat from which hats and fills play 16ths
    ghost_chance: float = 0.3  # chance of a soft snare under each free melody onset
    fill_beats: int = 1  # beats of snare/toms that end each section
    dynamics: float = 0.5  # 0: fixed velocities; 1: exactly as loud as the band relative to mf

    def drum_track(self, score: symusic.Score, layout: SongLayout) -> symusic.Track:
        if layout.ticks_per_quarter != score.ticks_per_quarter:  # bars would fall in the wrong places
            raise MidiforgeError(
                f"layout has {layout.ticks_per_quarter} ticks/quarter, the score {score.ticks_per_quarter}"
            )
        grid = Grid.of(layout.meter)
        track = symusic.Track(name="Drums", program=0, is_drum=True)
        for bar, heard in enumerate(listen(score, layout, grid)):
            start, end = bar * layout.bar_ticks, (bar + 1) * layout.bar_ticks
            scale = 1 + self.dynamics * (fmean(heard.velocities) / 80 - 1) if heard.velocities else 1
            for step, pitch, velocity in sorted(self.bar(heard, layout, bar, grid)):
                time = start + step * layout.bar_ticks // grid.steps
                length = max(1, min(layout.bar_ticks // grid.steps, end - time))
                track.notes.append(
                    symusic.Note(time, length, pitch, max(1, min(127, round(velocity * scale))))
                )
        return track

    def bar(self, heard: Heard, layout: SongLayout, bar: int, grid: Grid) -> list[tuple[int, int, int]]:
        """``(step, pitch, velocity)`` for song bar ``bar``: only its notes and place in the form count."""
        letter, _, in_section = layout.section(bar)
        b_type = (ord(letter) - ord("A")) % 2 == 1  # B, D...: ride and a waltz snare; A, C...: hats
        rng = random.Random(f"{layout.seed}/{letter}/{in_section}")
        last = in_section == layout.section_bars - 1
        fill_from = max(0, grid.steps - self.fill_beats * grid.pulse) if last else grid.steps
        busy = len(heard.lead) >= self.busy * grid.pulses
        sub = 1 if busy else grid.eighth

        limit = max(1, round(self.kicks_per_beat * grid.pulses))
        kicks = sorted(
            heard.kick | {0}, key=lambda s: (s != 0, s % grid.pulse != 0, s % grid.eighth != 0, s)
        )[:limit]
        snares = {s for s in grid.backbeats(b_type) if s < fill_from}
        free = [s for s in sorted(heard.lead) if s < fill_from and s not in snares and s not in kicks]
        ghosts = [s for s in free if rng.random() < self.ghost_chance]
        hat = RIDE if b_type else CLOSED_HAT
        hats = [s for s in range(0, fill_from, sub) if s or in_section]  # the crash takes beat one
        fill = range(fill_from, grid.steps, sub)
        return [
            *((s, KICK, 100 if s == 0 else 90) for s in kicks if s == 0 or s < fill_from),
            *((s, SNARE, 100) for s in snares),
            *((s, SNARE, 30) for s in ghosts),
            *((s, hat, 80 if s % grid.pulse == 0 else 60) for s in hats),
            *([(0, CRASH, 110)] if in_section == 0 else []),
            *((s, FILL[i * len(FILL) // len(fill)], 75 + 30 * i // len(fill)) for i, s in enumerate(fill)),
        ]


@hookimpl
def register_drummers(register: Register) -> None:
    register(GrooveDrummer())
