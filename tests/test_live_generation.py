"""``generate --live``: the first piece plays bar by bar while the model samples it.

Played on a fake clock into a recording port, then compared with the files written: same notes,
same order, same times within 5 ms (shifted only by the pauses the streamer reports when the music
had to wait for the generator).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import midiforge
from midiforge.errors import MidiforgeError
from midiforge.generation import SamplingConfig, StyleOptions, generate
from midiforge.live import FakeClock, LiveFeed, RecordingPort, generate_live, midi_backend_problem
from tests.helpers.midi_events import TOLERANCE_S, canonical, file_events


class _WatchingPort(RecordingPort):
    """Remembers whether the model was still generating when the first note went out."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.generating_at_first_note: bool | None = None

    def send(self, message) -> None:
        if message.type == "note_on" and self.generating_at_first_note is None:
            names = {t.name for t in threading.enumerate()}
            self.generating_at_first_note = "midiforge-generate" in names
        super().send(message)


def _register_style(use_plugins, style) -> None:
    """Register ``style`` through an in-process plugin, preferred over a built-in of its name."""

    class Plugin:
        @staticmethod
        @midiforge.hookimpl
        def register_styles(register):
            register(style)

    use_plugins({"test-style": Plugin}, prefer={"test-style"})


def _assert_played_like_file(expected, played, pauses) -> None:
    """The same events in the same order, each at the file's time plus the pauses reported so far."""
    offsets = [sum(pause for _, pause in pauses[:i]) for i in range(len(pauses) + 1)]
    exp, got = canonical(expected), canonical(played)
    assert [row[1:] for row in exp] == [row[1:] for row in got] != [], "same notes, channels, velocities, order"
    for want, have in zip(exp, got, strict=True):
        assert min(abs(have[0] - want[0] - o) for o in offsets) <= TOLERANCE_S + 0.001, (want, have, offsets)


SONGS = {
    "AABA, 32 bars": dict(bars=32, seed=11),
    "ABCB in 6/8": dict(sections="ABCB", section_bars=5, meter="6/8", seed=4),
    "ABAB, 3-bar sections, ties over bar lines": dict(sections="ABAB", section_bars=3, seed=None),
    "AABA with varied repeats": dict(sections="AABA", section_bars=4, vary_repeats=True, seed=3),
}


@pytest.mark.parametrize("song", SONGS.values(), ids=SONGS.keys())
def test_a_song_plays_bar_by_bar_while_it_is_generated(engine, tmp_path, song):
    seed = song.pop("seed") if "seed" in song else None
    # the groove drummer, drawn bar by bar (model-written drums arrive a section at a time: see the note on issue 14)
    options = StyleOptions(n=1, drums=True, drummer="groove", sampling=SamplingConfig(seed=seed), **song)
    clock = FakeClock()
    port = _WatchingPort(clock)
    result, report = generate_live("harmonic", options, port=port, clock=clock, out=tmp_path, engine=engine)

    assert port.generating_at_first_note, "the first notes were sent before the song was finished"
    expected, programs = file_events(result.files[0])
    _assert_played_like_file(expected, port.notes(), report.pauses)
    assert report.pauses == [], "on a fake clock the music never has to wait for the model"
    assert report.max_late_s == 0.0
    assert {m.channel: m.program for _, m in port.sent if m.type == "program_change"} == programs
    assert 9 in programs, "the drummer's part plays live on GM channel 10 too"
    onsets = [t for t, kind, *_ in port.notes() if kind == "note_on"]
    assert onsets == sorted(onsets), "notes leave in time order"


@pytest.mark.parametrize("style", ["melody", "random"])
def test_the_other_pieces_follow_from_their_files(engine, tmp_path, style):
    options = StyleOptions(n=2, bars=4, sampling=SamplingConfig(seed=5))
    clock = FakeClock()
    port = RecordingPort(clock)
    result, report = generate_live(style, options, port=port, clock=clock, out=tmp_path, engine=engine)
    first, _ = file_events(result.files[0])
    second, _ = file_events(result.files[1])
    assert report.notes == (len(first) + len(second)) // 2
    played = port.notes()
    split = len(first)
    _assert_played_like_file(first, played[:split], report.pauses)
    start = played[split][0] - canonical(second)[0][0]  # the second file starts when the first ends
    _assert_played_like_file(second, [(t - start, *rest) for t, *rest in played[split:]], [])


def test_a_style_that_does_not_announce_its_bars_is_played_after_writing(engine, tmp_path, use_plugins):
    from midiforge.plugins import role_styles

    class QuietStyle:  # like a third-party style that ignores options.listener
        name, description = "quiet", "melody without a listener"

        def generate(self, engine, options):
            from dataclasses import replace

            return role_styles.ROLE_STYLES[0].generate(engine, replace(options, listener=None))

    _register_style(use_plugins, QuietStyle())
    clock = FakeClock()
    port = RecordingPort(clock)
    result, report = generate_live("quiet", StyleOptions(n=1, bars=2, sampling=SamplingConfig(seed=1)),
                                   port=port, clock=clock, out=tmp_path, engine=engine)
    expected, _ = file_events(result.files[0])
    _assert_played_like_file(expected, port.notes(), [])


def test_a_failing_generation_silences_the_port_and_raises(engine, tmp_path, use_plugins):
    class BrokenStyle:
        name, description = "broken", "fails after announcing a piece"

        def generate(self, engine, options):
            options.listener.piece(0, 4, lambda tokens: None)
            raise MidiforgeError("the sampler ran out of memory")

    _register_style(use_plugins, BrokenStyle())
    clock = FakeClock()
    port = RecordingPort(clock)
    with pytest.raises(MidiforgeError, match="out of memory"):
        generate_live("broken", StyleOptions(n=1), port=port, clock=clock, out=tmp_path, engine=engine)
    assert not (tmp_path / "melodies").exists()


def test_feed_releases_bars_in_song_order_and_holds_notes_that_may_still_change():
    import symusic

    def render(tokens):  # one token per bar: its value is the pitch of a note lasting 6 beats
        score = symusic.Score(4)
        track = symusic.Track(program=73)
        for bar, pitch in enumerate(tokens):
            track.notes.append(symusic.Note(bar * 16, 24, pitch, 80))
        score.tracks.append(track)
        score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
        return score

    feed = LiveFeed()
    feed.piece(0, 3, render)
    feed.bars(0, 2, [[62]])  # the last bar first (a repeated section announced early)
    assert feed._released == []
    feed.bars(0, 0, [[60]])  # bar 0's note rings into bar 1, which is unknown: held
    assert feed._released == []
    feed.bars(0, 1, [[61]])  # now complete: everything goes, in song order
    assert [[n.pitch for n in bar] for bar in feed._released] == [[60], [61], [62]]
    feed.close()
    assert [[n.pitch for n in bar] for bar in feed] == [[60], [61], [62]]


def test_cli_live_without_a_midi_system_is_one_clear_line(tmp_path):
    if midi_backend_problem() is None:
        pytest.skip("a MIDI system is available here")
    proc = subprocess.run([sys.executable, "-m", "midiforge", "generate", "melody", "--live", "--n", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: cannot open a MIDI output")
    assert not list(tmp_path.rglob("*.mid")), "nothing generated when there is no port to play on"


def test_stopping_playback_stops_the_model_too(engine, tmp_path):
    class UnpluggedPort(RecordingPort):  # like Ctrl-C or a synth that goes away mid-song
        def send(self, message):
            if message.type == "note_on" and len(self.notes()) > 4:
                raise KeyboardInterrupt
            super().send(message)

    clock = FakeClock()
    port = UnpluggedPort(clock)
    with pytest.raises(KeyboardInterrupt):
        generate_live("harmonic", StyleOptions(n=2, bars=32, sampling=SamplingConfig(seed=2)),
                      port=port, clock=clock, out=tmp_path, engine=engine)
    assert "midiforge-generate" not in {t.name for t in threading.enumerate()}, "the generator was stopped"
    assert not list(tmp_path.rglob("*.mid")), "a cancelled song is not written half-done"
    sounding = {(ch, p) for _, kind, ch, p, _ in port.notes() if kind == "note_on"}
    offs = {(ch, p) for _, kind, ch, p, _ in port.notes() if kind == "note_off"}
    assert sounding <= offs, "every note that started was stopped"


def test_a_plugin_style_streams_what_it_writes(engine, tmp_path, monkeypatch, use_plugins):
    """The example arpeggio plugin wraps the listener: live notes are its arpeggios, as in its file."""
    import importlib.util
    from pathlib import Path

    # this checkout's plugin source (an older copy may be pip-installed and already imported)
    source = Path(__file__).parents[1] / "plugins" / "midiforge-arpeggio" / "midiforge_arpeggio" / "__init__.py"
    spec = importlib.util.spec_from_file_location("arpeggio_under_test", source)
    plugin = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, plugin)
    spec.loader.exec_module(plugin)
    _register_style(use_plugins, plugin.ArpeggioStyle())
    clock = FakeClock()
    port = RecordingPort(clock)
    result, report = generate_live("arpeggio", StyleOptions(n=1, bars=4, sampling=SamplingConfig(seed=4)),
                                   port=port, clock=clock, out=tmp_path, engine=engine)
    expected, _ = file_events(result.files[0])
    _assert_played_like_file(expected, port.notes(), report.pauses)


def test_every_chunk_hands_over_whole_bars(engine, tmp_path):
    """Chunks meet at bar lines: a chunk never continues the bar its context ended with."""
    heard: list[list[int]] = []

    class Recorder:
        def piece(self, row, n_bars, render):
            pass

        def bars(self, row, first_bar, bars):
            heard.extend(bars)

    options = StyleOptions(n=3, sections="ABCB", section_bars=5, meter="6/8", sampling=SamplingConfig(seed=4),
                           listener=Recorder())
    generate("harmonic", options, out=tmp_path, engine=engine)
    assert heard and all(engine.codec.token(bar[0]) == "Bar_None" for bar in heard)


def test_the_whole_first_file_plays_even_if_the_style_stops_announcing(engine, tmp_path, use_plugins):
    class AnnounceOnly:  # announces its piece, then never hands over a bar
        name, description = "announce-only", "a style with a half-done listener"

        def generate(self, engine, options):
            from dataclasses import replace

            pieces = role_styles.ROLE_STYLES[0].generate(engine, replace(options, listener=None))
            options.listener.piece(0, 4, lambda tokens: None)
            return pieces

    from midiforge.plugins import role_styles

    clock = FakeClock()
    port = RecordingPort(clock)
    _register_style(use_plugins, AnnounceOnly())
    result, report = generate_live("announce-only", StyleOptions(n=1, bars=4, sampling=SamplingConfig(seed=6)),
                                   port=port, clock=clock, out=tmp_path, engine=engine)
    expected, _ = file_events(result.files[0])
    _assert_played_like_file(expected, port.notes(), report.pauses)


def test_a_prompt_in_another_meter_is_heard_whole(engine, tmp_path):
    prompt = generate("chord", StyleOptions(n=1, bars=2, sampling=SamplingConfig(seed=8)),
                      out=tmp_path / "prompt", engine=engine).files[0]
    options = StyleOptions(n=1, bars=4, meter="3/4", prompt=prompt, sampling=SamplingConfig(seed=8))
    clock = FakeClock()
    port = RecordingPort(clock)
    result, report = generate_live("bass", options, port=port, clock=clock, out=tmp_path, engine=engine)
    expected, _ = file_events(result.files[0])
    _assert_played_like_file(expected, port.notes(), report.pauses)


def test_stopping_random_clips_writes_nothing(engine, tmp_path):
    class UnpluggedPort(RecordingPort):
        def send(self, message):
            if message.type == "note_on":
                raise KeyboardInterrupt
            super().send(message)

    clock = FakeClock()
    with pytest.raises(KeyboardInterrupt):
        generate_live("random", StyleOptions(n=6, sampling=SamplingConfig(seed=2)),
                      port=UnpluggedPort(clock), clock=clock, out=tmp_path, engine=engine)
    assert "midiforge-generate" not in {t.name for t in threading.enumerate()}
    assert not list(tmp_path.rglob("*.mid"))
