"""The generation engine: a model behind a backend, its codec, the sampler, and MIDI output.

Styles (plugins) describe *what* to generate as :class:`~midiforge.generation.sampler.Request`s;
the engine runs them in one batch and decodes the tokens with the codec the model was trained with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from midiforge.errors import MidiforgeError
from midiforge.generation.grammar import Grammar
from midiforge.generation.sampler import Generated, Request, Sampler, SamplingConfig

DEFAULT_MODEL_NAME = "default.safetensors"
DEFAULT_ONNX_NAME = "default.onnx"  # its export, what the light install runs (python -m midiforge.assets.build)
REBUILD_HINT = "python -m midiforge.assets.build"
#: part of the cached export's name: bump when the exported graph changes (2: fused attention)
ONNX_EXPORT_REVISION = 2


def _asset(name: str) -> Path:
    return Path(str(resources.files("midiforge") / "assets" / name))


def default_model_path() -> Path:
    """The small pretrained model shipped inside the package (the checkpoint, for training and torch)."""
    path = _asset(DEFAULT_MODEL_NAME)
    if not path.exists():
        raise MidiforgeError("the default model is missing from this install; pass --model CHECKPOINT")
    return path


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shipped_onnx() -> tuple[Path | None, bool]:
    """The shipped ONNX export of the default model, and whether it is stale (exported from another
    checkpoint than the shipped ``default.safetensors``, whose sha256 its ``default.json`` records)."""
    onnx_path, checkpoint = _asset(DEFAULT_ONNX_NAME), _asset(DEFAULT_MODEL_NAME)
    if not onnx_path.is_file():
        return None, False
    if not checkpoint.is_file():  # a trimmed install: the export is all there is
        return onnx_path, False
    try:
        recorded = json.loads(onnx_path.with_suffix(".json").read_text()).get("source", {}).get("sha256")
    except (OSError, ValueError):
        recorded = None
    return onnx_path, recorded != file_digest(checkpoint)


@dataclass
class Engine:
    """A loaded model ready to generate."""

    codec: Any
    backend: Any
    backend_name: str
    model_path: Path
    training: dict[str, Any] = field(default_factory=dict)  # the checkpoint's training metadata
    grammar: Grammar = field(init=False)
    sampler: Sampler = field(init=False)

    def __post_init__(self) -> None:
        self.grammar = Grammar.from_codec(self.codec)
        self.sampler = Sampler(self.backend, self.grammar)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model: str | Path | None = None, backend: str = "auto", device: str = "cpu") -> Engine:
        """Load ``model`` (a .safetensors checkpoint, an .onnx export, or the default model).

        ``backend``: ``auto`` (onnxruntime when available, the fastest on CPU), ``onnx`` or ``torch``.
        """
        if backend not in ("auto", "onnx", "torch"):
            raise MidiforgeError(f"unknown backend '{backend}' (use auto, onnx or torch)")
        if model is None and backend != "torch" and device == "cpu":
            shipped, stale = shipped_onnx()
            if shipped is not None and not stale:
                return cls._from_onnx(shipped, shipped)
            if stale and not _has_torch():
                raise MidiforgeError(f"the shipped default.onnx was exported from another checkpoint than "
                                     f"default.safetensors; rebuild it: {REBUILD_HINT}")
        path = Path(model) if model else default_model_path()
        if not path.exists():
            raise MidiforgeError(f"model not found: {path}")
        if path.suffix == ".onnx":
            if backend == "torch":
                raise MidiforgeError("an .onnx model runs with --backend onnx (or auto)")
            return cls._from_onnx(path, path)
        if backend in ("auto", "onnx") and device == "cpu":
            onnx_path = _cached_onnx_export(path, required=backend == "onnx")
            if onnx_path is not None:
                return cls._from_onnx(onnx_path, path)
        return cls._from_torch(path, device)

    @classmethod
    def _from_onnx(cls, onnx_path: Path, source: Path) -> Engine:
        from midiforge.data.codec import Codec
        from midiforge.generation.onnx_backend import OnnxBackend

        be = OnnxBackend(onnx_path)
        return cls(codec=Codec.from_dict(be.codec_dict), backend=be, backend_name="onnx", model_path=source,
                   training=dict(be.meta.get("training") or {}))

    @classmethod
    def _from_torch(cls, path: Path, device: str) -> Engine:
        from midiforge.data.codec import Codec
        from midiforge.extras import require
        from midiforge.generation.backends import TorchBackend

        require("torch", "train", f"running the checkpoint {path.name} (or an exported .onnx model)")
        from midiforge.models.checkpoint import load_checkpoint

        loaded = load_checkpoint(path)
        codec = loaded.codec if not isinstance(loaded.codec, dict) else Codec.from_dict(loaded.codec)
        return cls(codec=codec, backend=TorchBackend(loaded.model, device), backend_name="torch", model_path=path,
                   training=dict(loaded.meta.get("training") or {}))

    # ------------------------------------------------------------------ generating
    def run(self, requests: list[Request], sampling: SamplingConfig, batch_size: int = 32) -> list[list[int]]:
        """Generate every request, ``batch_size`` at a time (same-length prompts batch best)."""
        return [row.tokens for row in self.run_rows(requests, sampling, batch_size)]

    def run_rows(self, requests: list[Request], sampling: SamplingConfig, batch_size: int = 32) -> list[Generated]:
        """:meth:`run`, each row also telling whether its budget (at most the window) cut it."""
        out: list[Generated] = []
        if self.context_length:  # no row outgrows the trained window, whatever its own budget
            requests = [replace(r, max_tokens=max(1, min(r.max_tokens, int(self.context_length) - len(r.prompt))))
                        for r in requests]
        for i in range(0, len(requests), batch_size):
            chunk = requests[i : i + batch_size]
            cfg = sampling if sampling.seed is None else _with_seed(sampling, sampling.seed + i)
            out.extend(self.sampler.generate_rows(chunk, cfg))
        return out

    def decode(self, ids: list[int]):
        """Tokens (prefix included or not) to a ``symusic.Score`` with one track per role."""
        return self.codec.decode(list(ids))

    @property
    def learned_drums(self) -> bool:
        """Did the model see drum notes in training? (Its codec may have the role without them.)"""
        seen = self.training.get("role_tokens") or {}
        return -1 in self.grammar.programs and int(seen.get("drums", 0)) > 0

    @property
    def steps_per_beat(self) -> int:
        return int(self.codec.steps_per_beat)

    @property
    def context_length(self) -> int:
        """Tokens the model was trained to see at once (its training window; 512 if unrecorded).
        Every request stays inside it: positions past it were never learned."""
        config = self.training.get("config") or {}
        return int(self.training.get("seq_len") or config.get("seq_len") or 512)


def _has_torch() -> bool:
    from midiforge.extras import available

    return available("torch")


def _with_seed(cfg: SamplingConfig, seed: int) -> SamplingConfig:
    from dataclasses import replace

    return replace(cfg, seed=seed)


def _cached_onnx_export(checkpoint: Path, required: bool) -> Path | None:
    """Export ``checkpoint`` to ONNX once (validated) and reuse it from the cache."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if required:
            raise MidiforgeError("--backend onnx needs onnxruntime (pip install onnxruntime)") from None
        return None
    from midiforge.paths import cache_dir

    digest = file_digest(checkpoint)[:16]
    target = cache_dir("onnx") / f"{checkpoint.stem}-{digest}-r{ONNX_EXPORT_REVISION}.onnx"
    if target.exists():
        return target
    from midiforge import contracts
    from midiforge.models.checkpoint import read_metadata

    if not required and not contracts.model_exportable(read_metadata(checkpoint)["model"]):
        return None  # the model declares it cannot be traced (e.g. transformers models): use torch
    exporter = contracts.exporter_for_backend("onnx")  # the exporter that says it writes for this backend
    if exporter is None:
        if required:
            raise MidiforgeError("--backend onnx needs an exporter plugin for it (see 'midiforge plugins')")
        return None
    try:
        report = exporter.export(checkpoint, target)
    except ImportError:
        if required:
            raise
        return None
    if not getattr(report, "passed", True):
        if required:
            raise MidiforgeError(f"ONNX export of {checkpoint} failed validation")
        return None
    return target

