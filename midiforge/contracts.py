"""What each kind of plugin provides, and the one resolver per kind that core code goes through.

Each kind has a typed ``Protocol`` (as pytest types its hooks); ``docs/plugins.md`` documents the
same signatures, and ``tests/test_plugin_contracts.py`` runs plugins written from the docs through
every command. A resolver looks a plugin up, checks it has what its contract names (a clear
``PluginError`` instead of an ``AttributeError`` deep inside a command), and calls it the
documented way, so no command invents its own calling convention.

Core code never names a built-in: what differs between plugins is declared on the plugin object
(``Corpus.takes_path``, ``ModelPlugin.exportable``, ``Exporter.backend``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from midiforge import registry
from midiforge.errors import MidiforgeError, PluginError

if TYPE_CHECKING:
    import symusic
    import torch

    from midiforge.generation.drums import SongLayout
    from midiforge.generation.engine import Engine
    from midiforge.generation.pieces import Piece
    from midiforge.generation.styles import StyleOptions

Progress = Callable[[int, int], None]


class Tokenizer(Protocol):
    name: str
    description: str

    def create(self, params: dict[str, Any]) -> Any:
        """A ``miditok.MusicTokenizer`` built from ``TokenizerConfig`` keyword arguments."""


class MidiModel(Protocol):
    """What ``ModelPlugin.build`` returns: a ``torch.nn.Module`` with these members."""

    config: Any  # the config_class instance it was built from

    def forward(self, ids: torch.Tensor) -> torch.Tensor: ...

    def init_cache(self, batch_size: int, device: torch.device | str | None) -> Any: ...

    def step(self, ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]: ...

    def num_parameters(self) -> int: ...


class ModelPlugin(Protocol):
    name: str
    description: str
    config_class: type  # a dataclass with at least vocab_size and max_seq_len

    def build(self, config: Any) -> MidiModel:
        """A model for ``config``, always an instance of ``config_class``."""


class Style(Protocol):
    name: str
    description: str

    def generate(self, engine: Engine, options: StyleOptions) -> list[Piece]: ...


class Exporter(Protocol):
    name: str
    description: str
    suffix: str

    def export(self, checkpoint: Path | None, out: Path, **options: Any) -> Any:
        """Write ``out``, validate it against PyTorch and return an ``ExportReport``."""


class Corpus(Protocol):
    name: str
    description: str

    def files(self, cache_dir: Path, **options: Any) -> list[Path]:
        """MIDI paths, converted or downloaded into ``cache_dir`` once if needed."""


class Drummer(Protocol):
    """``drum_track`` returns a ``symusic.Track`` with ``is_drum=True`` (GM drum map) in the score's
    ticks. The drums of bar *b* depend only on the notes that start in bar *b* and on the layout
    (section letter, bar within section, meter, seed): then a repeated section gets the same drums,
    and live playback can draw the drums bar by bar while the song is sampled."""

    name: str
    description: str

    def drum_track(self, score: symusic.Score, layout: SongLayout) -> symusic.Track: ...


#: what a resolver checks on each kind (methods and attributes; optional ones are not listed)
REQUIRED = {
    "tokenizer": ("create",),
    "model": ("config_class", "build"),
    "style": ("generate",),
    "exporter": ("suffix", "export"),
    "corpus": ("files",),
    "drummer": ("drum_track",),
}


def resolve(kind: str, name: str) -> Any:
    """The ``kind`` plugin registered as ``name``, checked against its contract."""
    entry = registry.registry().entry(kind, name)
    missing = [m for m in REQUIRED[kind] if not hasattr(entry.obj, m)]
    if missing:
        raise PluginError(
            f"{kind} '{name}' of plugin '{entry.plugin}' does not follow the {kind} contract: "
            f"it has no {', '.join(missing)} (see docs/plugins.md)"
        )
    return entry.obj


def tokenizer(name: str) -> Tokenizer:
    return resolve("tokenizer", name)


def model(name: str) -> ModelPlugin:
    return resolve("model", name)


def style(name: str) -> Style:
    return resolve("style", name)


def exporter(name: str) -> Exporter:
    return resolve("exporter", name)


def corpus(name: str) -> Corpus:
    return resolve("corpus", name)


def drummer(name: str) -> Drummer:
    return resolve("drummer", name)


# --- models ---------------------------------------------------------------------------------


def build_model(plugin: ModelPlugin, values: dict[str, Any]) -> MidiModel:
    """``plugin.build`` with its ``config_class`` built from ``values`` (unknown keys rejected)."""
    from midiforge.models.base import make_config

    return plugin.build(make_config(plugin.config_class, values))


def model_exportable(name: str) -> bool:
    """Whether the exporters can trace model ``name`` (``exportable``, default true)."""
    return bool(getattr(model(name), "exportable", True))


# --- exporters ------------------------------------------------------------------------------


def exporter_for_backend(backend: str) -> Exporter | None:
    """The exporter whose files the generation ``backend`` runs (declared as ``backend``)."""
    for obj in registry.registry().objects("exporter"):
        if getattr(obj, "backend", None) == backend:
            return obj
    return None


# --- corpora --------------------------------------------------------------------------------


def path_corpus() -> Corpus:
    """The corpus that reads a user's own PATH (declared with ``takes_path = True``)."""
    for obj in registry.registry().objects("corpus"):
        if getattr(obj, "takes_path", False):
            return obj
    raise PluginError("no installed corpus reads MIDI files from a path (see 'midiforge plugins')")


def corpus_files(
    corpus: Corpus,
    cache_dir: Path,
    *,
    path: str | Path | None = None,
    limit: int | None = None,
    workers: int = 2,
    on_progress: Progress | None = None,
) -> list[Path]:
    """Call ``corpus.files(cache_dir, **options)`` the documented way: only the options its
    signature accepts are passed (``limit`` is applied here when it takes none)."""
    options: dict[str, Any] = {"limit": limit, "workers": workers, "on_progress": on_progress}
    if path is not None:
        if not getattr(corpus, "takes_path", False):
            raise MidiforgeError(f"corpus '{corpus.name}' does not read a PATH; give one or the other")
        options["path"] = path
    accepted = _accepted(corpus.files, options)
    files = [Path(p) for p in corpus.files(Path(cache_dir), **accepted)]
    return files[:limit] if limit else files


def _accepted(fn: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable: pass nothing optional
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    return {k: v for k, v in options.items() if k in params}
