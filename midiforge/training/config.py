"""Training configuration: one dataclass, filled from defaults < recipe < config file < CLI flags."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from midiforge.errors import MidiforgeError

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Every training hyperparameter (the keys of a ``--config`` TOML/YAML file)."""

    model: str = "music-transformer"  # registered model plugin
    model_config: dict[str, Any] = field(default_factory=dict)  # overrides of the model's config
    data: list[str] = field(default_factory=list)  # prepared dataset folders (same codec)
    out: str = "runs/midiforge"  # output folder
    batch_size: int = 16
    seq_len: int = 512  # training window length (tokens)
    lr: float = 3e-4  # peak learning rate (AdamW)
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    accumulate: int = 1  # micro-batches per optimizer step
    epochs: int = 10
    max_steps: int = 0  # stop after this many optimizer steps (0 = no limit)
    max_minutes: float = 0.0  # stop after this much wall time (0 = no limit)
    eval_interval: int = 0  # validate every N steps (0 = once per epoch)
    checkpoint_interval: int = 0  # write last.* every N steps (0 = at each validation)
    checkpoint_minutes: float = 5.0  # also write last.* after this much wall time (0 = off)
    log_interval: int = 10  # metrics row every N steps
    sample_interval: int = 0  # write a sample MIDI every N steps (0 = off)
    sample_tokens: int = 256
    patience: int = 0  # stop after N validations without improvement (0 = off)
    max_val_batches: int = 0  # cap validation batches (0 = whole split)
    seed: int = 0
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps
    precision: str = "auto"  # auto (bf16 on CUDA when supported), fp32, bf16
    save_dtype: str = "float32"  # dtype of best.safetensors (float16 halves a shipped model)
    init_from: str = ""  # start from this checkpoint's weights ("default": the shipped model); grows a smaller one
    resume: bool = False  # must continue from OUT/last.state.pt (a folder holding one is continued anyway)
    progress: bool = True  # rich progress bar

    def __post_init__(self) -> None:
        if isinstance(self.data, (str, Path)):
            self.data = [str(self.data)]
        self.data = [str(p) for p in self.data]
        checks = [
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.seq_len >= 2, "seq_len must be >= 2"),
            (self.lr > 0, "lr must be > 0"),
            (self.accumulate >= 1, "accumulate must be >= 1"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.checkpoint_minutes >= 0, "checkpoint_minutes must be >= 0"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise MidiforgeError(message)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_defaults() -> dict[str, Any]:
    """Default of every field (for ``--help`` text)."""
    return {f.name: getattr(TrainConfig(), f.name) for f in dataclasses.fields(TrainConfig)}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML file of ``TrainConfig`` keys."""
    path = Path(path)
    if not path.is_file():
        raise MidiforgeError(f"config file {path} not found")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise MidiforgeError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise MidiforgeError(f"cannot parse {path}: {exc}") from None
    if not isinstance(data, dict):
        raise MidiforgeError(f"{path} must hold a table of training options")
    return data


def _recipes():
    return resources.files("midiforge") / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in _recipes().iterdir() if p.name.endswith(".toml"))


def read_recipe(name: str) -> dict[str, Any]:
    """A shipped recipe (``midiforge/recipes/NAME.toml``) or a path to one."""
    if Path(name).suffix in (".toml", ".yaml", ".yml") and Path(name).exists():
        return read_config_file(name)
    resource = _recipes() / f"{name}.toml"
    if not resource.is_file():
        raise MidiforgeError(f"unknown recipe '{name}' (available: {', '.join(recipe_names())})")
    return tomllib.loads(resource.read_text())


def build_config(*layers: dict[str, Any]) -> TrainConfig:
    """Merge option dicts left to right (later wins; ``model_config`` tables merge key by key)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    merged: dict[str, Any] = {}
    for layer in layers:
        unknown = sorted(set(layer) - known)
        if unknown:
            raise MidiforgeError(
                f"unknown training option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        for key, value in layer.items():
            if key == "model_config":
                merged["model_config"] = {**merged.get("model_config", {}), **value}
            else:
                merged[key] = value
    try:
        return TrainConfig(**merged)
    except TypeError as exc:
        raise MidiforgeError(f"bad training options: {exc}") from None
