"""Training configuration: one dataclass, filled from defaults < recipe < config file < CLI flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from midiforge.errors import MidiforgeError
from midiforge.settings import read_config_file, setting
from midiforge.training.schedule import SCHEDULES

PRECISIONS = ("auto", "fp32", "bf16")
SAVE_DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class TrainConfig:
    """Every training hyperparameter (the keys of a ``--config`` TOML/YAML file); the help of each
    field is also its ``midiforge train`` option's help."""

    model: str = setting("music-transformer", "Model plugin (see `midiforge plugins`).")
    model_config: dict[str, Any] = field(default_factory=dict)  # overrides of the model's config
    data: list[str] = field(default_factory=list)  # prepared dataset folders (same codec)
    out: str = setting("runs/midiforge", "Output folder (checkpoints, metrics, plots, samples).", flags="-o --out",
                       path=True)
    epochs: int = setting(10, "Passes over the training split.")
    max_steps: int = setting(0, "Stop after N optimizer steps (0 = no limit).")
    max_minutes: float = setting(0.0, "Stop after this much wall time (0 = no limit).")
    batch_size: int = setting(16, "Sequences per micro-batch (per process).")
    seq_len: int = setting(512, "Training window length in tokens.")
    lr: float = setting(3e-4, "Peak learning rate (AdamW).")
    lr_schedule: str = setting("cosine", "cosine: decay over the whole run; wsd: stay at the peak, decay over the "
                                         "last --decay-steps (a longer run can --branch-from its stable phase).",
                               choices=SCHEDULES)
    decay_steps: int = setting(0, "wsd: steps of the final decay (0 = the last fifth of the run).")
    min_lr_ratio: float = setting(0.1, "The decay ends at lr x this.")
    warmup_steps: int = setting(100, "Linear warm-up steps.")
    weight_decay: float = setting(0.1, "AdamW weight decay (matrices only).")
    grad_clip: float = setting(1.0, "Max gradient norm (0 = off).")
    accumulate: int = setting(1, "Micro-batches per optimizer step (gradient accumulation).")
    eval_interval: int = setting(0, "Validate every N steps (0 = once per epoch).")
    checkpoint_interval: int = setting(0, "Write last.* every N steps (0 = at each validation).")
    checkpoint_minutes: float = setting(5.0, "Also write last.* (resumable) after this many minutes (0 = off).")
    log_interval: int = setting(10, "Metrics row every N steps.")
    sample_interval: int = setting(0, "Write samples/step_N.mid every N steps (0 = off).")
    sample_tokens: int = setting(256, "Tokens per sample.")
    patience: int = setting(0, "Early stopping: validations without improvement (0 = off).")
    max_val_batches: int = setting(0, "Cap validation batches (0 = whole split).")
    init_from: str = setting("", "Start from this checkpoint's weights ('default' = the shipped model); a bigger "
                                 "model of the same kind is grown from a smaller one.")
    seed: int = setting(0, "Random seed (runs are deterministic on CPU).")
    device: str = setting("auto", "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps.")
    precision: str = setting("auto", "auto = bf16 autocast on CUDA when supported.", choices=PRECISIONS)
    # float16 halves a shipped model
    save_dtype: str = setting("float32", "dtype of best.safetensors.", choices=SAVE_DTYPES)
    branch_from: str = setting("", "Lengthen a wsd run: continue from its stable.state.pt (weights, optimizer, "
                                   "data position, metrics) in a new --out, with a larger --max-steps.",
                               path=True)
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
            (self.lr_schedule in SCHEDULES, f"lr_schedule must be one of {', '.join(SCHEDULES)}"),
            (self.decay_steps >= 0, "decay_steps must be >= 0"),
            (not self.branch_from or self.lr_schedule == "wsd",
             "branch_from lengthens a wsd run (a cosine run's rate depends on its length): add lr_schedule wsd"),
        ]
        for ok, message in checks:
            if not ok:
                raise MidiforgeError(message)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
