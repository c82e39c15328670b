"""Sizes midiforge accepts (documented in docs/limits.md): a request beyond them gets a one-line
error at once, instead of minutes of work that end in a file nobody can use.

``generate`` checks :func:`check_request` before loading the model; every command that reads a
user's MIDI file (``--prompt``, ``infill``, ``vary``, ``evaluate``) calls :func:`check_midi_file`
before parsing it. ``analyze`` and ``prepare`` skip such files with a reason instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from midiforge.data.midi_io import DEFAULT_MAX_MB
from midiforge.errors import MidiforgeError

#: Longest piece ``generate`` writes: about 8.5 minutes at 120 bpm in 4/4.
MAX_BARS = 256
#: Largest MIDI file a command reads (the default of ``analyze``/``prepare --max-file-mb``).
MAX_MIDI_MB = DEFAULT_MAX_MB


def check_request(options: Any) -> None:
    """Refuse a ``StyleOptions`` whose piece would exceed :data:`MAX_BARS` (by ``--bars``,
    ``--seconds`` or ``--sections`` x ``--section-bars``), or whose ``--prompt`` is too large."""
    if options.bars is not None:
        if options.bars < 1:
            raise MidiforgeError(f"--bars must be at least 1, got {options.bars}")
        _check_bars(options.bars, f"--bars {options.bars}")
    elif options.seconds is not None:
        if options.seconds <= 0:
            raise MidiforgeError(f"--seconds must be positive, got {options.seconds:g}")
        bars = options.seconds * options.tempo_bpm() / 60.0 / options.beats_per_bar()
        _check_bars(bars, f"--seconds {options.seconds:g} at {options.tempo_bpm():g} bpm")
    if options.section_bars is not None:
        if options.section_bars < 1:
            raise MidiforgeError(f"--section-bars must be at least 1, got {options.section_bars}")
        _check_bars(options.section_bars * _sections(options.sections), f"--section-bars {options.section_bars}")
    if options.prompt is not None:
        check_midi_file(options.prompt, "--prompt")


def _sections(sections: str | None) -> int:
    text = str(sections or "").strip()
    if text.isdigit():
        return max(1, int(text))
    return max(1, len(text))


def _check_bars(bars: float, asked: str) -> None:
    if bars > MAX_BARS:
        raise MidiforgeError(
            f"{asked} asks for {round(bars):,} bars; the limit is {MAX_BARS} bars per piece "
            "(see docs/limits.md): ask for fewer bars or generate several pieces"
        )


def check_midi_file(path: str | Path, what: str = "input") -> None:
    """Refuse a MIDI file above :data:`MAX_MIDI_MB` before it is parsed (parsing alone of a
    20 MB file takes long, and the model would need hours for it)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MidiforgeError(f"{what} {path}: file not found") from None
    except OSError as exc:
        raise MidiforgeError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    if size > MAX_MIDI_MB * 1024 * 1024:
        raise MidiforgeError(
            f"{what} {path.name} is {size / 1024 / 1024:.1f} MB; the limit is {MAX_MIDI_MB:g} MB "
            "(see docs/limits.md)"
        )
