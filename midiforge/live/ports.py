"""MIDI outputs: opening a real port (mido + python-rtmidi), and a recording port for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import mido

from midiforge.errors import MidiforgeError
from midiforge.live.clock import Clock


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
