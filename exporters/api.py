"""``export_model``: the Python entry point behind ``midiforge export`` (usable from notebooks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from midiforge import contracts
from midiforge.errors import MidiforgeError


def default_output(exporter: Any, checkpoint: Path | None) -> Path:
    from midiforge.exporters.common import DEFAULT_CHECKPOINT

    source = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    return Path(source.stem + exporter.suffix)


def export_model(format: str, checkpoint: str | Path | None = None, out: str | Path | None = None, **options: Any):
    """Export ``checkpoint`` (default: the shipped model) with the exporter plugin named ``format``.

    Returns the exporter's ``ExportReport``; ``report.passed`` tells whether the exported model
    reproduced the PyTorch logits within ``report.tolerance``.
    """
    exporter = contracts.exporter(format)
    checkpoint = Path(checkpoint) if checkpoint else None
    out = Path(out) if out else default_output(exporter, checkpoint)
    if out.suffix != exporter.suffix:
        raise MidiforgeError(f"the {format} exporter writes '{exporter.suffix}' files; got output '{out}'")
    return exporter.export(checkpoint, out, **options)
