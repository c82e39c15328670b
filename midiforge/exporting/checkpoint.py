"""What an exporter is given: a checkpoint (``None`` = the shipped model) and keyword options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from midiforge.errors import MidiforgeError

DEVICE = "cpu"  # exporters trace and validate on the CPU (load_for_export); passed to init_cache


def check_options(options: dict, allowed: set[str], exporter: str) -> None:
    """Reject misspelt or unsupported exporter options with one clear line."""
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise MidiforgeError(
            f"unknown {exporter} export option(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )


def load_for_export(checkpoint: Path | None) -> Any:
    """Load a checkpoint (default: the shipped model, found through the installed package so a
    wheel install works as well as a checkout) in eval mode on the CPU."""
    if checkpoint:
        path = Path(checkpoint)
        if not path.exists():
            raise MidiforgeError(f"checkpoint not found: {path}")
    else:
        from midiforge.generation.engine import default_model_path

        path = default_model_path()
    from midiforge.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(path)
    loaded.model.eval()
    return loaded


def shipped_name() -> Path:
    """How reports name the shipped model (its file name, not the install location)."""
    from midiforge.generation.engine import DEFAULT_MODEL_NAME

    return Path(DEFAULT_MODEL_NAME)
