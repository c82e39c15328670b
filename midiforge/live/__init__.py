"""Live output: stream notes to a MIDI port in real time while a piece is generated.

``generate STYLE --live [PORT]`` calls :func:`generate_live`: the first piece plays bar by bar
while it is being sampled (a :class:`LiveFeed` hears the style's bars and
:meth:`LiveStreamer.stream_bars` plays them), the other pieces follow from the files written.
:meth:`LiveStreamer.play` takes a finished ``symusic.Score`` / ``pretty_midi.PrettyMIDI``. Notes
are timed in beats and turned into seconds with the piece's tempo map, so playback follows the
tempo the file is written with. Clocks and ports are injected:
:class:`FakeClock` and :class:`RecordingPort` let tests check timing without waiting or hardware.

Example (notebook)::

    from midiforge.live import LiveStreamer, open_port
    with open_port() as port:                      # virtual port "midiforge" where the OS allows
        LiveStreamer(port).play(score)              # blocks until the last note_off

Modules: ``clock`` (real and fake clocks), ``ports`` (MIDI outputs), ``notes`` (notes in
beats, tempo maps, bars), ``player`` (:class:`LiveStreamer`), ``feed`` (:class:`LiveFeed`, the
style listener) and ``session`` (:func:`generate_live`).
"""

from __future__ import annotations

from midiforge.live.clock import Clock, FakeClock, RealClock
from midiforge.live.feed import LiveFeed
from midiforge.live.notes import DRUM_CHANNEL, LiveBar, LiveNote, TempoMap, bars_of, notes_from_score
from midiforge.live.player import LiveReport, LiveStreamer, stream_files, stream_scores
from midiforge.live.ports import OutputPort, RecordingPort, midi_backend_problem, open_port
from midiforge.live.session import generate_live

__all__ = [
    "DRUM_CHANNEL", "Clock", "FakeClock", "LiveBar", "LiveFeed", "LiveNote", "LiveReport", "LiveStreamer",
    "OutputPort", "RealClock", "RecordingPort", "TempoMap", "bars_of", "generate_live", "midi_backend_problem",
    "notes_from_score", "open_port", "stream_files", "stream_scores",
]
