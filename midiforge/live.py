"""Live output: stream notes to a MIDI port in real time while a piece is generated.

``generate STYLE --live [PORT]`` calls :func:`generate_live`: the first piece plays bar by bar
while it is being sampled (a :class:`LiveFeed` hears the style's bars and
:meth:`LiveStreamer.stream_bars` plays them), the other pieces follow from the files written.
:meth:`LiveStreamer.play` takes a finished ``symusic.Score`` / ``pretty_midi.PrettyMIDI``. Notes are timed in beats and turned into seconds with the piece's tempo
map, so playback follows the tempo the file is written with. Clocks and ports are injected:
:class:`FakeClock` and :class:`RecordingPort` let tests check timing without waiting or hardware.

Example (notebook)::

    from midiforge.live import LiveStreamer, open_port
    with open_port() as port:                      # virtual port "midiforge" where the OS allows
        LiveStreamer(port).play(score)              # blocks until the last note_off
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mido
import symusic

from midiforge.errors import MidiforgeError

DRUM_CHANNEL = 9
CLOCKS_PER_BEAT = 24  # MIDI clock resolution


# ---------------------------------------------------------------- clocks and ports


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Monotonic wall clock; sleeps in short slices and spins the last millisecond for precision."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0.0015:
            time.sleep(left - 0.001)
        while time.perf_counter() < deadline:
            pass


class FakeClock:
    """A clock for tests: ``sleep`` advances time instantly and exactly."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)


class OutputPort(Protocol):
    def send(self, message: mido.Message) -> None: ...


@dataclass
class RecordingPort:
    """An output port that remembers every message with the clock time it was sent at."""

    clock: Clock
    sent: list[tuple[float, mido.Message]] = field(default_factory=list)
    closed: bool = False

    def send(self, message: mido.Message) -> None:
        self.sent.append((self.clock.now(), message))

    def close(self) -> None:
        self.closed = True

    def notes(self) -> list[tuple[float, str, int, int, int]]:
        """``(time, type, channel, pitch, velocity)`` of the note messages sent (note_on with
        velocity 0 counted as note_off)."""
        out = []
        for at, msg in self.sent:
            if msg.type in ("note_on", "note_off"):
                kind = "note_off" if msg.type == "note_off" or msg.velocity == 0 else "note_on"
                out.append((at, kind, msg.channel, msg.note, msg.velocity))
        return out


def midi_backend_problem() -> str | None:
    """Why no real MIDI output can be opened here, or ``None`` when one can (used by ``doctor``)."""
    try:
        mido.set_backend("mido.backends.rtmidi", load=True)
        mido.get_output_names()
    except ImportError:
        return "python-rtmidi is not installed: pip install 'midiforge[live]'"
    except Exception as exc:  # rtmidi raises its own SystemError when ALSA/CoreMIDI is unusable
        return f"no MIDI system available ({exc})"
    return None


def open_port(name: str | None = None, virtual: bool | None = None) -> Any:
    """Open a MIDI output (mido + python-rtmidi).

    ``name=None`` opens a virtual port called ``midiforge`` (Linux/macOS), which a DAW or synth can
    connect to; a ``name`` opens that existing output (an exact name, or a unique substring
    such as ``"IAC"``). Raises :class:`MidiforgeError` with the available ports when it cannot.
    """
    problem = midi_backend_problem()
    if problem:
        raise MidiforgeError(f"cannot open a MIDI output: {problem}; `midiforge doctor` shows the fix")
    if name is None or virtual:
        try:
            return mido.open_output(name or "midiforge", virtual=True)
        except Exception as exc:
            available = ", ".join(mido.get_output_names()) or "none"
            raise MidiforgeError(
                f"cannot create a virtual MIDI port here ({exc}); pass a port name (available: {available})"
            ) from None
    names = mido.get_output_names()
    matches = [n for n in names if n == name] or [n for n in names if name.lower() in n.lower()]
    if len(matches) != 1:
        why = "is ambiguous" if matches else "not found"
        raise MidiforgeError(f"MIDI output '{name}' {why} (available: {', '.join(names) or 'none'})")
    return mido.open_output(matches[0])


# ---------------------------------------------------------------- notes and tempo


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


# ---------------------------------------------------------------- the streamer

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


class LiveBar(list):
    """One bar's notes, with where the bar ends (beats from the start of the piece).

    The end tells :meth:`LiveStreamer.stream_bars` how far the music may play before the next bar
    must have arrived; a plain list of notes works too (then the music runs on to its last note).
    """

    def __init__(self, notes: Iterable[LiveNote] = (), end: float | None = None) -> None:
        super().__init__(notes)
        self.end = end


def _produce(bars: Iterable[Iterable[LiveNote]], out: queue.Queue) -> None:
    try:
        for bar in bars:
            out.put(("bar", bar if isinstance(bar, LiveBar) else LiveBar(bar)))
        out.put(("done", None))
    except BaseException as exc:  # handed to the playing thread, which re-raises it
        out.put(("error", exc))


def bars_of(notes: Iterable[LiveNote], beats_per_bar: float = 4.0, first_bar: int = 0) -> Iterator[LiveBar]:
    """Group notes into consecutive bars by start time, from bar ``first_bar`` on (for feeding
    :meth:`stream_bars`)."""
    grouped: dict[int, list[LiveNote]] = {}
    for note in notes:
        grouped.setdefault(int(note.start / beats_per_bar + 1e-9), []).append(note)
    for index in range(first_bar, max(grouped, default=-1) + 1):
        yield LiveBar(grouped.get(index, []), end=(index + 1) * beats_per_bar)


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


# ---------------------------------------------------------------- during generation


class LiveFeed:
    """A :class:`~midiforge.generation.styles.BarListener` that turns one piece's bars into
    :class:`LiveBar` s, in order, as soon as they are final.

    Bars arrive out of order (a song's repeated section is announced at every place it appears
    while the section in between is still being sampled); they are released in song order. A
    bar is released once none of its notes can still change: a monophonic part's note is cut
    where the next note starts, so a note that may sustain into bars not yet generated waits.
    When generation ends, :meth:`close` gets the finished score and releases whatever is left of
    it, so the whole file is always heard. Iterating the feed blocks until the next bar is
    released, and ends after :meth:`close`.
    """

    def __init__(self, row: int = 0) -> None:
        self.row = row
        self.started = False  # did the style announce the piece? (plugins may not)
        self.cancelled = False
        self._cond = threading.Condition()
        self._tokens: dict[int, list[int]] = {}
        self._released: list[LiveBar] = []
        self._render: Any = None
        self._n_bars = 0
        self._rendered = 0  # bars rendered at the last look
        self._closed = False
        self._error: BaseException | None = None

    # -- BarListener
    def piece(self, row: int, n_bars: int, render: Any) -> None:
        self._check_cancelled()
        if row == self.row:
            with self._cond:
                self.started, self._render, self._n_bars = True, render, n_bars

    def bars(self, row: int, first_bar: int, bars: list[list[int]]) -> None:
        self._check_cancelled()
        if row != self.row:
            return
        with self._cond:
            for offset, tokens in enumerate(bars):
                self._tokens[first_bar + offset] = tokens
            self._release()

    def cancel(self) -> None:
        """Playback stopped (Ctrl-C, a port error): make the generator stop at its next chunk."""
        self.cancelled = True

    def _check_cancelled(self) -> None:
        if self.cancelled:
            raise MidiforgeError("live playback was stopped; generation cancelled")

    def close(self, error: BaseException | None = None, final_score: Any = None) -> None:
        """Generation ended: release the rest of ``final_score`` (the piece as written), or
        hand ``error`` to the player."""
        with self._cond:
            if error is None and final_score is not None and self.started:
                notes, _ = notes_from_score(final_score)
                self._released += bars_of(notes, _beats_per_bar(final_score), first_bar=len(self._released))
            self._closed, self._error = True, error
            self._cond.notify_all()

    # -- releasing
    def _release(self) -> None:
        done = len(self._released)
        known = done
        while known in self._tokens:
            known += 1
        final = known >= self._n_bars
        if known == done or (known == self._rendered and not final):
            return  # nothing new since the last look
        self._rendered = known
        score = self._render([t for bar in range(known) for t in self._tokens[bar]])
        notes, _ = notes_from_score(score)
        beats_per_bar = _beats_per_bar(score)
        end = known * beats_per_bar
        last_start: dict[int, float] = {}
        for note in notes:
            last_start[note.channel] = max(last_start.get(note.channel, 0.0), note.start)
        for bar in bars_of(notes, beats_per_bar, first_bar=done):
            if bar.end > end + 1e-9:
                break
            settled = all(n.start + n.duration <= end + 1e-9 or last_start[n.channel] > n.start for n in bar)
            if not (final or settled):
                break
            self._released.append(bar)
        self._cond.notify_all()

    def __iter__(self) -> Iterator[LiveBar]:
        sent = 0
        while True:
            with self._cond:
                while sent >= len(self._released) and not self._closed:
                    self._cond.wait()
                if self._error is not None:
                    raise self._error
                if sent >= len(self._released):
                    return
                bar = self._released[sent]
            sent += 1
            yield bar


def _beats_per_bar(score: Any) -> float:
    """Quarter notes per bar of a score (its first time signature; 4/4 without one)."""
    if len(score.time_signatures):
        first = score.time_signatures[0]
        return first.numerator * 4 / first.denominator
    return 4.0


def generate_live(
    style: str,
    options: Any,
    port_name: str | None = None,
    clock: Clock | None = None,
    port: OutputPort | None = None,
    lookahead_beats: float = 4.0,
    out: str | Path = "midiforge-output",
    preview: bool = False,
    overwrite: bool = False,
    **engine_options: Any,
) -> tuple[Any, LiveReport]:
    """``generate`` while the first piece plays bar by bar as it is sampled; then play the rest.

    The port is opened before generating (a bad port name fails at once). Files are written as
    soon as generation ends, unless playback was stopped first. ``engine_options`` are
    ``model``, ``backend``, ``device`` or a loaded ``engine``. Returns the
    :class:`~midiforge.generation.GenerateResult` and the summed :class:`LiveReport`.
    """
    from dataclasses import replace

    from midiforge.generation import generate_pieces, write_result

    feed = LiveFeed()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            result = generate_pieces(style, replace(options, listener=feed), **engine_options)
            feed._check_cancelled()  # stopped while the last chunk was sampled: write nothing
            box["result"] = write_result(result, out, preview, overwrite)
            feed.close(final_score=result.pieces[0].score if result.pieces else None)
        except BaseException as exc:  # re-raised by the playing thread
            feed.close(error=exc)

    owned = port is None
    device = open_port(port_name) if port is None else port
    try:
        worker = threading.Thread(target=work, name="midiforge-generate", daemon=True)
        worker.start()
        streamer = LiveStreamer(device, clock=clock, tempo_bpm=options.tempo_bpm())
        try:
            report = streamer.stream_bars(feed, lookahead_beats=lookahead_beats)
        except BaseException:
            feed.cancel()  # stop the model at its next chunk rather than kill the process under it
            worker.join(timeout=60)
            raise
        worker.join()
        result = box["result"]
        rest = result.files[1:] if feed.started else result.files
        report.add(stream_files(rest, clock=clock, port=device))
    finally:
        if owned:
            device.close()
    return result, report
