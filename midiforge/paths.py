"""Where midiforge keeps caches (converted corpora, downloads, exported default models), and which
files of a folder are MIDI."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$MIDIFORGE_CACHE`` or ``~/.cache/midiforge``, created on demand."""
    root = Path(os.environ.get("MIDIFORGE_CACHE", Path.home() / ".cache" / "midiforge"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


#: What counts as a MIDI file by its name (any case).
MIDI_SUFFIXES = (".mid", ".midi")


def midi_files_in(folder: str | Path) -> list[Path]:
    """The MIDI files under ``folder``, sub-folders included, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
