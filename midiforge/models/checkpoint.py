"""Checkpoints: one ``.safetensors`` file with the weights and JSON metadata.

Metadata keys (JSON strings): ``format``, ``model`` (plugin name), ``model_config``, ``codec``
(the codec's ``to_dict()``), ``training`` (steps, epochs, losses, tokens, wall time, device, date)
and ``aliases`` (tied weights stored once). safetensors never unpickles anything, so loading an
untrusted checkpoint cannot run code. Writes are atomic: a crash mid-write leaves the previous file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from midiforge.atomic import atomic_path
from midiforge.errors import MidiforgeError
from midiforge.models.base import MidiModel, config_to_dict

FORMAT = "midiforge-checkpoint-1"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    model: MidiModel
    codec: Any  # midiforge.data.codec.Codec when available, else the codec dict
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.meta["model"]


def codec_to_dict(codec: Any) -> dict[str, Any]:
    if codec is None:
        return {}
    if isinstance(codec, dict):
        return codec
    return codec.to_dict()


def codec_from_dict(data: dict[str, Any]) -> Any:
    """A ``Codec`` when the codec module can rebuild it, else the plain dict."""
    if not data:
        return data
    try:
        from midiforge.data.codec import Codec
    except ImportError:
        return data
    return Codec.from_dict(data)


def _dedupe_tied(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors refuses shared storage: keep one name per tensor, remember the others."""
    kept: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, tensor in state.items():
        key = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.dtype,
        )
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        kept[name] = tensor
    return kept, aliases


def save_checkpoint(
    path: str | Path,
    model: MidiModel,
    model_name: str,
    codec: Any,
    training: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> Path:
    """Write ``model`` (+ configs) to ``path`` atomically; ``dtype='float16'`` halves the size."""
    from safetensors.torch import save_file

    if dtype not in DTYPES:
        raise MidiforgeError(f"checkpoint dtype must be one of {', '.join(DTYPES)}, not '{dtype}'")
    state, aliases = _dedupe_tied(model.state_dict())
    tensors = {
        k: (v.detach().to(DTYPES[dtype]) if v.is_floating_point() else v.detach()).cpu().contiguous()
        for k, v in state.items()
    }
    metadata = {
        "format": FORMAT,
        "model": model_name,
        "model_config": json.dumps(config_to_dict(model.config)),
        "codec": json.dumps(codec_to_dict(codec)),
        "training": json.dumps(training or {}, default=str),
        "aliases": json.dumps(aliases),
        "dtype": dtype,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def _open(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    if not path.is_file():
        raise MidiforgeError(f"checkpoint {path} not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for every kind of damage
        raise MidiforgeError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    if meta.get("format") != FORMAT:
        raise MidiforgeError(f"{path} is not a midiforge checkpoint (no '{FORMAT}' metadata)")
    return meta, tensors


def _decode_meta(path: Path, raw: dict[str, str]) -> dict[str, Any]:
    try:
        return {
            "model": raw["model"],
            "model_config": json.loads(raw["model_config"]),
            "codec": json.loads(raw.get("codec", "{}")),
            "training": json.loads(raw.get("training", "{}")),
            "aliases": json.loads(raw.get("aliases", "{}")),
            "dtype": raw.get("dtype", "float32"),
        }
    except (KeyError, json.JSONDecodeError) as exc:
        raise MidiforgeError(f"checkpoint {path} is corrupt or truncated: bad metadata ({exc})") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata without building the model."""
    path = Path(path)
    raw, _ = _open(path)
    return _decode_meta(path, raw)


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The float32 state dict (tied names restored) and the metadata, without building a model."""
    path = Path(path)
    raw, tensors = _open(path)
    meta = _decode_meta(path, raw)
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    for alias, target in meta["aliases"].items():
        state[alias] = state[target]
    return state, meta


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model from its registered plugin and load the weights (as float32)."""
    from midiforge import contracts

    path = Path(path)
    state, meta = read_weights(path)
    model = contracts.build_model(contracts.model(meta["model"]), meta["model_config"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise MidiforgeError(f"checkpoint {path} does not match model '{meta['model']}': {exc}") from None
    model.to(device).eval()
    return LoadedModel(model=model, codec=codec_from_dict(meta["codec"]), meta=meta)
