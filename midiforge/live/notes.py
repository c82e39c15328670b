"""Notes as the player sees them: times in beats, turned into seconds through a tempo map, and
grouped into bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from midiforge.errors import MidiforgeError

DRUM_CHANNEL = 9


@dataclass(frozen=True)
class LiveNote:
    """One note as generated: times in beats (quarter notes) from the start of the piece."""

    start: float
    duration: float
    pitch: int
    velocity: int = 90
    channel: int = 0
    program: int = 0


@dataclass(frozen=True)
class TempoMap:
    """Beats -> seconds through a list of ``(beat, quarter notes per minute)`` changes."""

    changes: tuple[tuple[float, float], ...] = ((0.0, 120.0),)

    @classmethod
    def constant(cls, bpm: float) -> TempoMap:
        if bpm <= 0:
            raise MidiforgeError(f"tempo must be > 0 BPM, got {bpm}")
        return cls(((0.0, float(bpm)),))

    def seconds(self, beat: float) -> float:
        elapsed, last_beat, last_bpm = 0.0, 0.0, self.changes[0][1]
        for change_beat, bpm in self.changes[1:]:
            if change_beat >= beat:
                break
            elapsed += (change_beat - last_beat) * 60.0 / last_bpm
            last_beat, last_bpm = change_beat, bpm
        return elapsed + (beat - last_beat) * 60.0 / last_bpm


def _channels_for_tracks(tracks: list[tuple[int, bool]]) -> list[int]:
    """Channel per (program, is_drum) track the way symusic writes files: melodic tracks take
    0, 1, 2, ... skipping 9, drums take 9."""
    melodic = [c for c in range(16) if c != DRUM_CHANNEL]
    out, index = [], 0
    for _program, is_drum in tracks:
        if is_drum:
            out.append(DRUM_CHANNEL)
        else:
            out.append(melodic[index % len(melodic)])
            index += 1
    return out


def notes_from_score(score: Any) -> tuple[list[LiveNote], TempoMap]:
    """Notes and tempo map of a ``symusic.Score`` or ``pretty_midi.PrettyMIDI``."""
    if hasattr(score, "instruments") and hasattr(score, "time_to_tick"):
        return _notes_from_pretty_midi(score)
    if hasattr(score, "tracks") and hasattr(score, "tempos"):
        return _notes_from_symusic(score)
    raise MidiforgeError(f"cannot stream a {type(score).__name__}: expected a symusic Score or PrettyMIDI")


def _notes_from_symusic(score: Any) -> tuple[list[LiveNote], TempoMap]:
    quarter = score.to("quarter")
    tempos = tuple((float(t.time), float(t.qpm)) for t in quarter.tempos) or ((0.0, 120.0),)
    if tempos[0][0] > 0:
        tempos = ((0.0, 120.0), *tempos)
    channels = _channels_for_tracks([(t.program, t.is_drum) for t in quarter.tracks])
    notes = [
        LiveNote(float(n.time), float(n.duration), int(n.pitch), int(n.velocity), channel, int(track.program))
        for track, channel in zip(quarter.tracks, channels, strict=True)
        for n in track.notes
    ]
    return notes, TempoMap(tempos)


def _notes_from_pretty_midi(pm: Any) -> tuple[list[LiveNote], TempoMap]:
    def beats(seconds: float) -> float:
        return pm.time_to_tick(seconds) / pm.resolution

    times, bpms = pm.get_tempo_changes()
    tempos = tuple((beats(float(t)), float(b)) for t, b in zip(times, bpms, strict=True)) or ((0.0, 120.0),)
    channels = _channels_for_tracks([(i.program, i.is_drum) for i in pm.instruments])
    notes = [
        LiveNote(beats(n.start), beats(n.end) - beats(n.start), n.pitch, n.velocity, channel, inst.program)
        for inst, channel in zip(pm.instruments, channels, strict=True)
        for n in inst.notes
    ]
    return notes, TempoMap(tempos)


class LiveBar(list):
    """One bar's notes, with where the bar ends (beats from the start of the piece).

    The end tells :meth:`LiveStreamer.stream_bars` how far the music may play before the next bar
    must have arrived; a plain list of notes works too (then the music runs on to its last note).
    """

    def __init__(self, notes: Iterable[LiveNote] = (), end: float | None = None) -> None:
        super().__init__(notes)
        self.end = end


def bars_of(notes: Iterable[LiveNote], beats_per_bar: float = 4.0, first_bar: int = 0) -> Iterator[LiveBar]:
    """Group notes into consecutive bars by start time, from bar ``first_bar`` on (for feeding
    :meth:`stream_bars`)."""
    grouped: dict[int, list[LiveNote]] = {}
    for note in notes:
        grouped.setdefault(int(note.start / beats_per_bar + 1e-9), []).append(note)
    for index in range(first_bar, max(grouped, default=-1) + 1):
        yield LiveBar(grouped.get(index, []), end=(index + 1) * beats_per_bar)


def beats_per_bar(score: Any) -> float:
    """Quarter notes per bar of a score (its first time signature; 4/4 without one)."""
    if len(score.time_signatures):
        first = score.time_signatures[0]
        return first.numerator * 4 / first.denominator
    return 4.0
