"""Live MIDI output (midiforge.live): timing on a fake clock, equality with the written file."""

from __future__ import annotations

import threading

import mido
import pretty_midi
import pytest
import symusic

from midiforge.errors import MidiforgeError
from midiforge.live import (
    FakeClock,
    LiveNote,
    LiveStreamer,
    RealClock,
    RecordingPort,
    TempoMap,
    bars_of,
    midi_backend_problem,
    notes_from_score,
    open_port,
    stream_files,
)
from tests.helpers.midi_events import TOLERANCE_S, assert_same_events, file_events


def _score() -> symusic.Score:
    """Melody, chords, bass and drums over 4 bars with a tempo change in bar 3."""
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 100.0))
    score.tempos.append(symusic.Tempo(480 * 8, 140.0))
    parts = [(73, False, [72, 74, 76, 77, 79, 77, 76, 74], 240), (0, False, [60, 64, 67], 1920),
             (32, False, [36, 43, 41, 36], 960), (0, True, [36, 42, 38, 42], 480)]
    for index, (program, is_drum, pitches, step) in enumerate(parts):
        track = symusic.Track(name=f"part{index}", program=program, is_drum=is_drum)
        for i in range(16 * 480 // step):
            pitch = pitches[i % len(pitches)]
            if program == 0 and not is_drum:  # block chords: several notes at once
                for p in pitches:
                    track.notes.append(symusic.Note(i * step, step, p, 70))
                break
            track.notes.append(symusic.Note(i * step, step // 2 + 60, pitch, 60 + (i * 7) % 60))
        score.tracks.append(track)
    return score


def test_live_streaming_emits_the_written_files_notes_in_order_and_on_time(tmp_path) -> None:
    score = _score()
    path = tmp_path / "piece.mid"
    score.dump_midi(str(path))
    expected, file_programs = file_events(path)

    clock = FakeClock()
    port = RecordingPort(clock)
    report = LiveStreamer(port, clock=clock).play(score)

    played = port.notes()
    times = [t for t, *_ in played]
    assert times == sorted(times), "messages left in time order"
    # everything except the closing safety note_offs (none are needed: all notes ended)
    assert_same_events(expected, played)
    sent_programs = {m.channel: m.program for _, m in port.sent if m.type == "program_change"}
    assert sent_programs == file_programs == {0: 73, 1: 0, 2: 32, 9: 0}
    assert report.notes == sum(len(t.notes) for t in score.tracks)
    assert report.max_late_s == 0.0
    # the program change of a channel comes before its first note
    first_note = {
        ch: next(i for i, (_, m) in enumerate(port.sent) if m.type == "note_on" and m.channel == ch)
        for ch in sent_programs
    }
    for ch in sent_programs:
        change = next(
            i for i, (_, m) in enumerate(port.sent) if m.type == "program_change" and m.channel == ch
        )
        assert change < first_note[ch]
    # and the piece ends with 'all notes off' on every channel used
    tail = [m for _, m in port.sent[-4:]]
    assert {(m.type, m.control, m.channel) for m in tail} == {
        ("control_change", 123, c) for c in (0, 1, 2, 9)
    }


def test_pretty_midi_source_plays_the_same_notes(tmp_path) -> None:
    path = tmp_path / "piece.mid"
    _score().dump_midi(str(path))
    expected, _ = file_events(path)
    clock = FakeClock()
    port = RecordingPort(clock)
    LiveStreamer(port, clock=clock).play(pretty_midi.PrettyMIDI(str(path)))
    assert_same_events(expected, port.notes())


def test_tempo_map_turns_beats_into_seconds() -> None:
    tempo = TempoMap(((0.0, 120.0), (4.0, 60.0)))
    assert tempo.seconds(0) == 0
    assert tempo.seconds(2) == pytest.approx(1.0)
    assert tempo.seconds(4) == pytest.approx(2.0)
    assert tempo.seconds(6) == pytest.approx(4.0)
    with pytest.raises(MidiforgeError):
        TempoMap.constant(0)


def _generated_notes() -> list[LiveNote]:
    melody = [LiveNote(i * 0.5, 0.5, 60 + (i * 5) % 12, 80, 0, 73) for i in range(16)]
    bass = [LiveNote(i * 2.0, 2.0, 36 + i, 90, 1, 32) for i in range(4)]
    return melody + bass


def test_streaming_bars_as_they_are_generated_is_tempo_synced(tmp_path) -> None:
    notes = _generated_notes()
    produced: list[int] = []

    def generator():  # stands in for the sampler producing one bar at a time
        for index, bar in enumerate(bars_of(notes)):
            produced.append(index)
            yield bar

    clock = FakeClock(start=100.0)
    port = RecordingPort(clock)
    report = LiveStreamer(port, clock=clock, tempo_bpm=90).stream_bars(generator())
    assert produced == [0, 1] and report.stalls == 0

    # the same notes written to a file at 90 BPM and read back
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 90.0))
    for channel, program in ((0, 73), (1, 32)):
        track = symusic.Track(name=str(channel), program=program)
        for n in notes:
            if n.channel == channel:
                track.notes.append(
                    symusic.Note(round(n.start * 480), round(n.duration * 480), n.pitch, n.velocity)
                )
        score.tracks.append(track)
    path = tmp_path / "generated.mid"
    score.dump_midi(str(path))
    expected, _ = file_events(path)
    played = [(t - 100.0, *rest) for t, *rest in port.notes()]
    assert_same_events(expected, played)
    assert played[0][0] == 0.0 and played[-1][0] == pytest.approx(8 * 60 / 90)


class _DrainWatchingPort(RecordingPort):
    """Tells the test when a given number of note messages has been sent."""

    def __init__(self, clock: FakeClock, after_notes: int) -> None:
        super().__init__(clock)
        self.after_notes = after_notes
        self.drained = threading.Event()

    def send(self, message: mido.Message) -> None:
        super().send(message)
        if len(self.notes()) >= self.after_notes:
            self.drained.set()


def test_slow_generator_pauses_the_music_instead_of_bursting() -> None:
    notes = _generated_notes()
    bars = list(bars_of(notes, beats_per_bar=2.0))
    clock = FakeClock()
    port = _DrainWatchingPort(clock, after_notes=2 * sum(len(b) for b in bars[:2]))

    def slow_generator():
        yield from bars[:2]
        assert port.drained.wait(timeout=10)  # bars 0-1 have been played to the end...
        clock.sleep(30.0)  # ...and generating bar 2 takes 30 s more than the music had left
        yield from bars[2:]

    report = LiveStreamer(port, clock=clock, tempo_bpm=120).stream_bars(slow_generator(), lookahead_beats=0.0)
    assert report.stalls == 1
    onsets = [t for t, kind, ch, *_ in port.notes() if kind == "note_on" and ch == 0]
    assert onsets[8] == pytest.approx(32.0)  # bar 2 starts when it arrives (2 s + 30 s), not in the past
    gaps = [b - a for a, b in zip(onsets[8:], onsets[9:], strict=False)]
    assert all(g == pytest.approx(0.25, abs=TOLERANCE_S) for g in gaps)  # eighths at 120 BPM, no burst
    assert report.max_late_s == 0.0


def test_generator_error_silences_the_synth_and_propagates() -> None:
    def broken():
        yield [LiveNote(0.0, 8.0, 60, 100, 0, 0)]
        raise RuntimeError("sampler crashed")

    clock = FakeClock()
    port = RecordingPort(clock)
    with pytest.raises(RuntimeError, match="sampler crashed"):
        LiveStreamer(port, clock=clock).stream_bars(broken(), lookahead_beats=8.0)
    kinds = [(m.type, getattr(m, "note", None)) for _, m in port.sent]
    assert ("note_on", 60) in kinds
    assert kinds.index(("note_off", 60)) > kinds.index(("note_on", 60))
    assert ("control_change", None) in kinds


def test_midi_clock_follows_the_tempo() -> None:
    clock = FakeClock()
    port = RecordingPort(clock)
    streamer = LiveStreamer(port, clock=clock, tempo_bpm=150, send_clock=True)
    streamer.start()
    streamer.feed([LiveNote(0.0, 2.0, 64)])
    streamer.finish()
    types = [m.type for _, m in port.sent]
    assert types[0] == "start" and types[-1] == "stop"
    ticks = [t for t, m in port.sent if m.type == "clock"]
    assert len(ticks) == 48
    assert ticks[24] - ticks[0] == pytest.approx(60 / 150)


def test_real_clock_timing_is_tight() -> None:
    clock = RealClock()
    port = RecordingPort(clock)
    notes = [LiveNote(i * 0.25, 0.2, 60 + i, 90) for i in range(6)]  # 0.75 s at 120 BPM
    streamer = LiveStreamer(port, clock=clock, tempo_bpm=120)
    begin = clock.now()
    streamer.start()
    streamer.feed(notes)
    streamer.finish()
    onsets = [t - begin for t, kind, *_ in port.notes() if kind == "note_on"]
    for i, t in enumerate(onsets):
        assert abs(t - i * 0.125) < 0.03  # generous: the CI machine is shared


def test_bad_sources_and_notes() -> None:
    streamer = LiveStreamer(RecordingPort(FakeClock()), clock=FakeClock())
    with pytest.raises(MidiforgeError, match="cannot stream a str"):
        streamer.play("song.mid")
    notes, tempo = notes_from_score(symusic.Score(480))
    assert notes == [] and tempo.seconds(1.0) == pytest.approx(0.5)


def test_open_port_without_a_midi_system_is_one_clear_error() -> None:
    problem = midi_backend_problem()
    if problem is None:
        pytest.skip("a MIDI system is available here; the no-backend error cannot be provoked")
    with pytest.raises(MidiforgeError, match="cannot open a MIDI output"):
        open_port()


def test_rtmidi_virtual_port_streams_a_score() -> None:
    problem = midi_backend_problem()
    if problem is not None:
        pytest.skip(f"no MIDI backend: {problem}")
    try:
        port = open_port()  # virtual 'midiforge' port
    except MidiforgeError as exc:
        pytest.skip(f"virtual MIDI ports are not supported here: {exc}")
    with port:
        score = symusic.Score(480)
        track = symusic.Track(program=0)
        track.notes.append(symusic.Note(0, 120, 60, 90))
        score.tracks.append(track)
        report = LiveStreamer(port).play(score)
    assert report.notes == 1 and report.messages >= 3


def test_stream_files_plays_written_files_one_after_another(tmp_path) -> None:
    first, second = tmp_path / "a.mid", tmp_path / "b.mid"
    for path, pitch in ((first, 60), (second, 67)):
        score = symusic.Score(480)
        score.tempos.append(symusic.Tempo(0, 120.0))
        track = symusic.Track(program=0)
        track.notes.append(symusic.Note(0, 960, pitch, 90))  # two beats = 1 s at 120 BPM
        score.tracks.append(track)
        score.dump_midi(str(path))
    clock = FakeClock()
    port = RecordingPort(clock)
    report = stream_files([first, second], clock=clock, port=port)
    onsets = [(t, pitch) for t, kind, _, pitch, _ in port.notes() if kind == "note_on"]
    assert onsets == [(0.0, 60), (pytest.approx(1.0), 67)]
    assert report.notes == 2 and not port.closed, "a port passed in stays open"
    with pytest.raises(MidiforgeError, match="cannot play"):
        stream_files([tmp_path / "missing.mid"], clock=clock, port=port)
