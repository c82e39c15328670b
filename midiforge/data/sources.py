"""Resolving what the user asked for (a path, or ``--corpus NAME``) into a list of MIDI files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from midiforge import contracts
from midiforge.errors import MidiforgeError
from midiforge.paths import cache_dir


@dataclass
class Source:
    """Files to process, with the corpus they came from and its track-name role map."""

    corpus: str
    files: list[Path]
    roles: dict[str, str] = field(default_factory=dict)
    root: Path | None = None

    def relative(self, path: Path) -> str:
        """Stable display/report name of a file."""
        if self.root is not None:
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                pass
        return path.name


def resolve_source(
    path: str | Path | None = None,
    corpus: str | None = None,
    limit: int | None = None,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> Source:
    """``path`` (a folder or file, read by the corpus that ``takes_path``) or a registered
    ``corpus`` name; corpora converted from music21 are converted on first use and cached."""
    if limit is not None and limit < 1:
        raise MidiforgeError(f"--limit must be at least 1, got {limit}")
    if corpus is None and path is None:
        raise MidiforgeError(
            "give a PATH to MIDI files or --corpus NAME (see 'midiforge plugins' for corpora)"
        )
    plugin = contracts.corpus(corpus) if corpus is not None else contracts.path_corpus()
    files = contracts.corpus_files(
        plugin, cache_dir("corpora"), path=path, limit=limit, workers=workers, on_progress=on_progress
    )
    if path is not None:
        root = Path(path).expanduser()
        root = root if root.is_dir() else root.parent
    else:
        root = cache_dir("corpora", plugin.name)
    name = plugin.name
    if not files:
        where = f"under {path}" if path is not None else f"in corpus '{name}'"
        raise MidiforgeError(f"no MIDI files (.mid, .midi) found {where}")
    return Source(corpus=name, files=list(files), roles=dict(getattr(plugin, "roles", {}) or {}), root=root)
