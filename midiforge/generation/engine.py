"""The generation engine: a model behind a backend, its codec, the sampler, and MIDI output.

Styles (plugins) describe *what* to generate as :class:`~midiforge.generation.sampler.Request`s;
the engine runs them in one batch and decodes the tokens with the codec the model was trained with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from midiforge.errors import MidiforgeError
from midiforge.generation.grammar import Grammar
from midiforge.generation.sampler import Request, Sampler, SamplingConfig

DEFAULT_MODEL_NAME = "default.safetensors"
#: part of the cached export's name: bump when the exported graph changes (2: fused attention)
ONNX_EXPORT_REVISION = 2


def default_model_path() -> Path:
    """The small pretrained model shipped inside the package."""
    path = Path(str(resources.files("midiforge") / "assets" / DEFAULT_MODEL_NAME))
    if not path.exists():
        raise MidiforgeError("the default model is missing from this install; pass --model CHECKPOINT")
    return path


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
        path = Path(model) if model else default_model_path()
        if not path.exists():
            raise MidiforgeError(f"model not found: {path}")
        if backend not in ("auto", "onnx", "torch"):
            raise MidiforgeError(f"unknown backend '{backend}' (use auto, onnx or torch)")
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
        from midiforge.generation.backends import TorchBackend
        from midiforge.models.checkpoint import load_checkpoint

        loaded = load_checkpoint(path)
        codec = loaded.codec if not isinstance(loaded.codec, dict) else Codec.from_dict(loaded.codec)
        return cls(codec=codec, backend=TorchBackend(loaded.model, device), backend_name="torch", model_path=path,
                   training=dict(loaded.meta.get("training") or {}))

    # ------------------------------------------------------------------ generating
    def run(self, requests: list[Request], sampling: SamplingConfig, batch_size: int = 32) -> list[list[int]]:
        """Generate every request, ``batch_size`` at a time (same-length prompts batch best)."""
        out: list[list[int]] = []
        for i in range(0, len(requests), batch_size):
            chunk = requests[i : i + batch_size]
            cfg = sampling if sampling.seed is None else _with_seed(sampling, sampling.seed + i)
            out.extend(self.sampler.generate(chunk, cfg))
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

    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    target = cache_dir("onnx") / f"{checkpoint.stem}-{digest}-r{ONNX_EXPORT_REVISION}.onnx"
    if target.exists():
        return target
    try:
        from midiforge.registry import get

        report = get("exporter", "onnx").export(checkpoint, target)
    except ImportError:
        if required:
            raise
        return None
    if not getattr(report, "passed", True):
        if required:
            raise MidiforgeError(f"ONNX export of {checkpoint} failed validation")
        return None
    return target

