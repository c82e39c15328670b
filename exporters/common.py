"""What the ONNX and CoreML exporters share: the metadata written into every exported model.

The export contract itself (report, checkpoint loading, validation, ``export_model``) is core:
:mod:`midiforge.exporting`.

An exported model is self-describing: its metadata carries the codec (so token ids decode to MIDI
without the checkpoint), the vocabulary as strings (for Swift/other runtimes), the model
configuration, generation defaults and the names/shapes of the cache tensors.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

#: bump when the layout of the exported metadata changes
METADATA_VERSION = 1
DEFAULT_GENERATION = {"temperature": 1.0, "top_k": 0, "top_p": 0.95, "repetition_penalty": 1.0}


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


def trained_context(model: Any, training: dict) -> int:
    """The window the model was trained on (what it has learnt to use), within what it can take."""
    seq_len = (training.get("config") or {}).get("seq_len")
    limit = context_length(model)
    return min(int(seq_len), limit) if isinstance(seq_len, int) and seq_len > 0 else limit


def without_paths(value: Any) -> Any:
    """``value`` with every absolute path cut to its last part: no training machine's folders in
    a shipped model."""
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith("/") or value[1:3] in (":\\", ":/")):
        return PureWindowsPath(value).name if "\\" in value else Path(value).name
    return value


def conditioning(codec: Any) -> dict:
    """How to build a prompt and read the tokens, for runtimes without midiforge (docs/export.md)."""
    from midiforge.data import vocab
    from midiforge.generation.grammar import next_rules, token_types

    token_type = token_types(codec)
    types = set(token_type)
    grooves = bool(getattr(codec, "has_grooves", False))  # older codecs: a prompt of four controls
    prefix = "BOS Role_<role> Key_<tonic>_<major|minor> Tempo_<band> Meter_<n>_<d>"
    note = "Position Program Pitch Velocity Duration" if "Velocity" in types else "Position Program Pitch Duration"
    def values(kind: str) -> list[str]:  # what the vocabulary itself holds, in its order
        return [codec.token(int(i)).split("_", 1)[1] for i in codec.ids_of_type(kind)]

    return {
        "prompt": f"{prefix}{' Groove_<groove> Density_<density>' if grooves else ''}, then per bar: "
                  f"Bar Chord_<chord> TimeSig_<n>/<d> and the notes ({note} ...)",
        **({"grooves": values("Groove"), "densities": values("Density")} if grooves else {}),
        "types": token_type,  # the grammar type of every token id (EOS apart from PAD and BOS)
        "roles": list(vocab.ROLES),
        "role_programs": dict(vocab.ROLE_PROGRAMS),  # GM program per role; -1 = drums (channel 10)
        "tempo_bands": [{"name": name, "min_bpm": low, "decode_bpm": bpm} for name, low, bpm in vocab.TEMPO_BANDS],
        "meters": list(vocab.METERS),
        "grammar": {src: list(dst) for src, dst in next_rules(types).items()},
    }


def export_metadata(loaded: Any, cache_layout: list[dict], extra: dict | None = None) -> dict:
    """Everything a runtime needs besides the weights, as one JSON-able dict."""
    codec = loaded.codec
    meta = dict(loaded.meta or {})
    vocab = [codec.token(i) for i in range(codec.vocab_size)]
    generation = {**DEFAULT_GENERATION, **(meta.get("generation") or {})}
    training = without_paths(meta.get("training", {}))
    return {
        "format_version": METADATA_VERSION,
        "model": meta.get("model", type(loaded.model).__name__),
        "model_config": _jsonable(meta.get("model_config", _jsonable(loaded.model.config))),
        "vocab_size": int(codec.vocab_size),
        "special_ids": {"pad": codec.pad_id, "bos": codec.bos_id, "eos": codec.eos_id},
        "context_length": trained_context(loaded.model, training),  # keep prompt + generated tokens within
        "max_positions": context_length(loaded.model),  # the most the graph accepts
        "steps_per_beat": int(getattr(codec, "steps_per_beat", 0) or 0),  # Position/Duration grid
        "generation": generation,
        "cache": cache_layout,
        "codec": codec.to_dict(),
        "vocab": vocab,
        **conditioning(codec),
        "training": training,
        **(extra or {}),
    }


def write_sidecar(path: Path, metadata: dict) -> Path:
    """Write the metadata as pretty JSON beside the model (``model.onnx`` -> ``model.json``)."""
    from midiforge.atomic import write_text

    return write_text(path, json.dumps(metadata, indent=1, default=str))
