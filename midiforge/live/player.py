"""The player: sends note_on / note_off to a port at the right times, for a finished score or for
bars that are still being generated."""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import symusic

from midiforge.errors import MidiforgeError
from midiforge.live.clock import Clock, RealClock
from midiforge.live.notes import LiveBar, LiveNote, TempoMap, notes_from_score
from midiforge.live.ports import OutputPort, open_port

CLOCKS_PER_BEAT = 24  # MIDI clock resolution


# at the same instant: program changes, then note_offs (so a repeated note re-attacks), then note_ons
_ORDER = {"program_change": 0, "note_off": 1, "note_on": 2, "clock": 3}


@dataclass
class LiveReport:
    """What a streaming run did: counts, worst lateness, and stalls waiting for the generator."""

    messages: int = 0
    notes: int = 0
    max_late_s: float = 0.0
    #: ``(piece seconds, pause)`` per stall: where the music waited for the generator, and how long
    pauses: list[tuple[float, float]] = field(default_factory=list)

    @property
    def stalls(self) -> int:
        return len(self.pauses)

    def add(self, other: LiveReport) -> None:
        """Sum a later piece's report into this one (pieces played one after another)."""
        self.messages += other.messages
        self.notes += other.notes
        self.max_late_s = max(self.max_late_s, other.max_late_s)
        self.pauses += other.pauses


class LiveStreamer:
    """Sends note_on / note_off (and a program change per channel) to ``port`` at the right times.

    ``tempo_bpm`` times :class:`LiveNote` beats fed through :meth:`stream_bars` / :meth:`feed`;
    :meth:`play` uses the score's own tempo map. ``send_clock=True`` also sends MIDI clock
    (24 per beat) with start/stop so a DAW can follow the tempo.
    """

    def __init__(
        self,
        port: OutputPort,
        clock: Clock | None = None,
        tempo_bpm: float = 120.0,
        send_clock: bool = False,
        tempo_map: TempoMap | None = None,
    ) -> None:
        self.port = port
        self.clock = clock or RealClock()
        self.tempo_map = tempo_map or TempoMap.constant(tempo_bpm)
        self.send_clock = send_clock
        self.report = LiveReport()
        self._heap: list[tuple[float, int, int, mido.Message]] = []
        self._seq = itertools.count()
        self._programs: dict[int, int] = {}
        self._sounding: dict[tuple[int, int], int] = {}
        self._origin: float | None = None  # clock time of beat 0
        self._clock_beats = 0.0  # MIDI clock scheduled up to this beat

    # -- scheduling

    def feed(self, notes: Iterable[LiveNote]) -> None:
        """Schedule notes (any order; times in beats from the start of the piece)."""
        for note in sorted(notes, key=lambda n: n.start):
            if note.duration <= 0:
                continue
            start_s = self.tempo_map.seconds(note.start)
            end_s = self.tempo_map.seconds(note.start + note.duration)
            if self._programs.get(note.channel) != note.program:
                self._programs[note.channel] = note.program
                self._push(
                    start_s, mido.Message("program_change", channel=note.channel, program=note.program)
                )
            self._push(
                start_s,
                mido.Message("note_on", channel=note.channel, note=note.pitch, velocity=note.velocity),
            )
            self._push(end_s, mido.Message("note_off", channel=note.channel, note=note.pitch, velocity=0))
            self.report.notes += 1
            if self.send_clock:
                self._schedule_clock(note.start + note.duration)

    def _schedule_clock(self, until_beat: float) -> None:
        step = 1.0 / CLOCKS_PER_BEAT
        while self._clock_beats < until_beat:
            self._push(self.tempo_map.seconds(self._clock_beats), mido.Message("clock"))
            self._clock_beats += step

    def _push(self, at: float, message: mido.Message) -> None:
        heapq.heappush(self._heap, (at, _ORDER[message.type], next(self._seq), message))

    # -- sending

    def start(self) -> None:
        """Fix beat 0 at the current clock time (called by play/stream_bars)."""
        if self._origin is None:
            self._origin = self.clock.now()
            if self.send_clock:
                self._send(mido.Message("start"))

    def _send(self, message: mido.Message) -> None:
        self.port.send(message)
        self.report.messages += 1
        if message.type in ("note_on", "note_off"):
            key = (message.channel, message.note)
            change = 1 if message.type == "note_on" and message.velocity > 0 else -1
            self._sounding[key] = max(0, self._sounding.get(key, 0) + change)

    def send_due(self, until_s: float | None = None) -> None:
        """Send every scheduled message due up to ``until_s`` (piece seconds; default: all),
        sleeping on the clock until each is due."""
        self.start()
        assert self._origin is not None
        while self._heap and (until_s is None or self._heap[0][0] <= until_s):
            at, _, _, message = heapq.heappop(self._heap)
            wait = self._origin + at - self.clock.now()
            if wait > 0:
                self.clock.sleep(wait)
            else:
                self.report.max_late_s = max(self.report.max_late_s, -wait)
            self._send(message)

    def finish(self) -> LiveReport:
        """Send what is left, then silence every channel used (all notes off)."""
        self.send_due()
        self.silence()
        if self.send_clock:
            self._send(mido.Message("stop"))
        return self.report

    def silence(self) -> None:
        """note_off for every sounding note plus 'all notes off' per channel: never leave a synth
        hanging, also after an error or Ctrl-C."""
        for (channel, pitch), count in sorted(self._sounding.items()):
            if count > 0:
                self._send(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        for channel in sorted(self._programs):
            self._send(mido.Message("control_change", channel=channel, control=123, value=0))
        self._heap.clear()

    # -- whole pieces and generated streams

    def play(self, score: Any) -> LiveReport:
        """Play a finished ``symusic.Score`` / ``pretty_midi.PrettyMIDI`` with its own tempo map."""
        notes, self.tempo_map = notes_from_score(score)
        try:
            self.feed(notes)
            return self.finish()
        except BaseException:
            self.silence()
            raise

    def stream_bars(self, bars: Iterable[Iterable[LiveNote]], lookahead_beats: float = 4.0) -> LiveReport:
        """Play bars while they are still being generated.

        ``bars`` is consumed in a background thread (so sampling does not delay sending); the
        notes of each bar are sent as soon as they arrive, up to ``lookahead_beats`` before they
        are due. If the generator falls behind real time, the playhead waits for it (counted in
        ``report.stalls``) instead of sending notes late in a burst.
        """
        incoming: queue.Queue[tuple[str, Any]] = queue.Queue()  # unbounded: the producer never blocks
        producer = threading.Thread(target=_produce, args=(bars, incoming), daemon=True)
        producer.start()
        horizon = 0.0  # beats scheduled so far (the end of the last bar received)
        frontier: float | None = None  # end of the last bar received (beats), when bars say so
        try:
            while True:
                kind, payload = self._next_from(incoming, frontier)
                if kind == "error":
                    raise payload
                if kind == "done":
                    break
                bar_start = frontier
                if payload.end is not None:
                    frontier = max(frontier or 0.0, payload.end)
                bar_notes = list(payload)
                if not bar_notes:
                    continue
                self.start()  # beat 0 is when the first notes arrive (model loading is not a stall)
                first = min(n.start for n in bar_notes)
                self._cover_stall(first if bar_start is None else min(first, bar_start))
                self.feed(bar_notes)
                horizon = max([horizon, *(n.start + n.duration for n in bar_notes)])
                self.send_due(self.tempo_map.seconds(max(0.0, horizon - lookahead_beats)))
            return self.finish()
        except BaseException:
            self.silence()
            raise
        finally:
            producer.join(timeout=0.1)

    def _next_from(self, incoming: queue.Queue, frontier: float | None) -> tuple[str, Any]:
        """The generator's next item; meanwhile keep sending scheduled messages as they fall due,
        up to the ``frontier`` beat (the end of the bars received): a note tied into a bar that
        is not generated yet holds through a stall instead of being cut.

        Waiting happens on the streamer's clock in slices of at most 10 ms, so a fake clock
        plays the scheduled notes exactly while a (real) generator thread is still working.
        """
        limit = None if frontier is None else self.tempo_map.seconds(frontier)
        while self._heap and self._origin is not None and (limit is None or self._heap[0][0] <= limit):
            try:
                return incoming.get_nowait()
            except queue.Empty:
                pass
            wait = self._origin + self._heap[0][0] - self.clock.now()
            if wait > 0:
                self.clock.sleep(min(wait, 0.01))
            else:
                self.send_due(self._heap[0][0])
        return incoming.get()

    def _cover_stall(self, first_beat: float) -> None:
        """When the generator fell behind and a bar arrives after it was due, move beat 0 forward
        so the bar starts now instead of being sent late in a burst."""
        assert self._origin is not None
        due = self.tempo_map.seconds(first_beat)
        behind = self.clock.now() - (self._origin + due)
        if behind > 0.005:
            self._origin += behind
            self.report.pauses.append((due, behind))


def _produce(bars: Iterable[Iterable[LiveNote]], out: queue.Queue) -> None:
    try:
        for bar in bars:
            out.put(("bar", bar if isinstance(bar, LiveBar) else LiveBar(bar)))
        out.put(("done", None))
    except BaseException as exc:  # handed to the playing thread, which re-raises it
        out.put(("error", exc))


def stream_scores(
    scores: Iterable[Any],
    port_name: str | None = None,
    clock: Clock | None = None,
    port: OutputPort | None = None,
) -> LiveReport:
    """Play scores one after another on one port (opened from ``port_name`` unless ``port`` is
    given); returns the summed report. Ctrl-C silences the synth before it propagates."""
    owned = port is None
    out = open_port(port_name) if port is None else port
    total = LiveReport()
    try:
        for score in scores:
            total.add(LiveStreamer(out, clock=clock).play(score))
    finally:
        if owned:
            out.close()
    return total


def stream_files(
    paths: Iterable[str | Path],
    port_name: str | None = None,
    clock: Clock | None = None,
    port: OutputPort | None = None,
) -> LiveReport:
    """Play MIDI files in order (what ``generate --live`` calls after writing them)."""

    def load(path: str | Path) -> Any:
        try:
            return symusic.Score(str(path))
        except Exception as exc:
            raise MidiforgeError(f"cannot play {path}: {exc}") from None

    return stream_scores((load(p) for p in paths), port_name=port_name, clock=clock, port=port)
