"""What the ONNX and CoreML exporters share: the report, checkpoint loading, the cache layout and
the metadata written into every exported model.

An exported model is self-describing: its metadata carries the codec (so token ids decode to MIDI
without the checkpoint), the vocabulary as strings (for Swift/other runtimes), the model
configuration, generation defaults and the names/shapes of the cache tensors.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from midiforge.errors import MidiforgeError

#: bump when the layout of the exported metadata changes
METADATA_VERSION = 1
_HERE = Path(__file__).resolve().parent
# the shipped checkpoint, from the source tree (exporters/ beside midiforge/) or installed (midiforge/exporters/)
DEFAULT_CHECKPOINT = next((d / "assets" / "default.safetensors" for d in (_HERE.parent / "midiforge", _HERE.parent)
                           if (d / "assets").is_dir()), _HERE.parent / "midiforge" / "assets" / "default.safetensors")
DEVICE = "cpu"  # exporters trace and validate on the CPU (load_for_export); passed to init_cache
DEFAULT_GENERATION = {"temperature": 1.0, "top_k": 0, "top_p": 0.95, "repetition_penalty": 1.0}


@dataclass
class ArtifactCheck:
    """One written model file and how closely it reproduces the PyTorch logits."""

    path: Path
    size_bytes: int
    max_abs_err_full: float
    max_abs_err_step: float
    tolerance: float
    top1_agreement: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.max_abs_err_full <= self.tolerance and self.max_abs_err_step <= self.tolerance


@dataclass
class ExportReport:
    """What an exporter wrote and whether it validated (logits within ``tolerance`` of PyTorch)."""

    format: str
    checkpoint: Path
    artifacts: list[ArtifactCheck] = field(default_factory=list)
    extra_paths: list[Path] = field(default_factory=list)  # sidecars, not validated on their own
    method: str = ""  # how the exported model was run for validation

    @property
    def paths(self) -> list[Path]:
        return [a.path for a in self.artifacts] + list(self.extra_paths)

    @property
    def max_abs_err_full(self) -> float:
        return max((a.max_abs_err_full for a in self.artifacts), default=float("nan"))

    @property
    def max_abs_err_step(self) -> float:
        return max((a.max_abs_err_step for a in self.artifacts), default=float("nan"))

    @property
    def tolerance(self) -> float:
        return min((a.tolerance for a in self.artifacts), default=float("nan"))

    @property
    def passed(self) -> bool:
        return bool(self.artifacts) and all(a.passed for a in self.artifacts)


def path_size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory (an .mlpackage is a directory)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def check_options(options: dict, allowed: set[str], exporter: str) -> None:
    """Reject misspelt or unsupported exporter options with one clear line."""
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise MidiforgeError(
            f"unknown {exporter} export option(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )


def load_for_export(checkpoint: Path | None) -> Any:
    """Load a checkpoint (default: the shipped model) in eval mode on the CPU."""
    path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if not path.exists():
        hint = " (the shipped default model is not installed)" if not checkpoint else ""
        raise MidiforgeError(f"checkpoint not found: {path}{hint}")
    from midiforge.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(path)
    loaded.model.eval()
    return loaded


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def context_length(model: Any) -> int:
    """The longest sequence the model was built for (transformers), or a generous default (RNNs)."""
    cfg = model.config
    for name in ("max_seq_len", "max_len", "context_length", "seq_len", "block_size"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def export_metadata(loaded: Any, cache_layout: list[dict], extra: dict | None = None) -> dict:
    """Everything a runtime needs besides the weights, as one JSON-able dict."""
    codec = loaded.codec
    meta = dict(loaded.meta or {})
    vocab = [codec.token(i) for i in range(codec.vocab_size)]
    generation = {**DEFAULT_GENERATION, **(meta.get("generation") or {})}
    return {
        "format_version": METADATA_VERSION,
        "model": meta.get("model", type(loaded.model).__name__),
        "model_config": _jsonable(meta.get("model_config", _jsonable(loaded.model.config))),
        "vocab_size": int(codec.vocab_size),
        "special_ids": {"pad": codec.pad_id, "bos": codec.bos_id, "eos": codec.eos_id},
        "context_length": context_length(loaded.model),
        "steps_per_beat": int(getattr(codec, "steps_per_beat", 0) or 0),  # Position/Duration grid
        "generation": generation,
        "cache": cache_layout,
        "codec": codec.to_dict(),
        "vocab": vocab,
        "training": meta.get("training", {}),
        **(extra or {}),
    }


def write_sidecar(path: Path, metadata: dict) -> Path:
    """Write the metadata as pretty JSON beside the model (``model.onnx`` -> ``model.json``)."""
    from midiforge.atomic import write_text

    return write_text(path, json.dumps(metadata, indent=1, default=str))
