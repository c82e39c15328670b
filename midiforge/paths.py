"""Where midiforge keeps caches (converted corpora, downloads, exported default models)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$MIDIFORGE_CACHE`` or ``~/.cache/midiforge``, created on demand."""
    root = Path(os.environ.get("MIDIFORGE_CACHE", Path.home() / ".cache" / "midiforge"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
