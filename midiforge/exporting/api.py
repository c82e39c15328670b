"""``export_model``: the Python entry point behind ``midiforge export`` (usable from notebooks).

It drives any exporter plugin the same way: the exporter writes into a staging folder and
validates what it wrote; only a model that passed is published.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from midiforge import contracts
from midiforge.errors import MidiforgeError


def default_output(exporter: Any, checkpoint: Path | None) -> Path:
    from midiforge.exporting.checkpoint import shipped_name

    stem = Path(checkpoint or shipped_name()).stem
    return Path(stem + exporter.suffix)


@contextlib.contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A hidden folder beside the output (same file system, so publishing is a rename); always removed."""
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".midiforge-export-", dir=parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst``; an existing folder (an .mlpackage) is swapped out, then deleted."""
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def _publish(report: Any, stage: Path, dest: Path) -> None:
    """Move everything the exporter wrote into ``dest`` and point the report at the final paths."""
    for item in sorted(stage.iterdir()):
        _replace(item, dest / item.name)

    def moved(path: Path) -> Path:
        path = Path(path)
        return dest / path.relative_to(stage) if path.is_relative_to(stage) else path

    for artifact in report.artifacts:
        artifact.path = moved(artifact.path)
    report.extra_paths = [moved(p) for p in report.extra_paths]


def export_model(format: str, checkpoint: str | Path | None = None, out: str | Path | None = None, **options: Any):
    """Export ``checkpoint`` (default: the shipped model) with the exporter plugin named ``format``.

    Returns the exporter's :class:`~midiforge.exporting.report.ExportReport`; ``report.passed`` tells whether the exported model
    reproduced the PyTorch logits within ``report.tolerance``. The exporter writes into a staging
    folder and only a model that passed is moved to ``out``: a failed export (or one that raised)
    leaves nothing behind, and whatever was at ``out`` before is kept (``report.written`` is False).
    """
    exporter = contracts.exporter(format)
    checkpoint = Path(checkpoint) if checkpoint else None
    out = Path(out) if out else default_output(exporter, checkpoint)
    if out.suffix != exporter.suffix:
        raise MidiforgeError(f"the {format} exporter writes '{exporter.suffix}' files; got output '{out}'")
    with staging_dir(out.parent) as stage:
        report = exporter.export(checkpoint, stage / out.name, **options)
        report.written = bool(report.passed)
        if report.written:
            _publish(report, stage, out.parent)
        else:
            for artifact in report.artifacts:
                artifact.path = out.parent / Path(artifact.path).name
    return report
