"""``midiforge train``: train a model plugin on prepared datasets (thin layer over ``midiforge.training.train``).

Option precedence: TrainConfig defaults < ``--recipe`` < ``--config`` file < flags on the command line.
Under ``torchrun --nproc_per_node N $(which midiforge) train ...`` the processes train one model with DDP.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
from rich.table import Table

from midiforge.cli.common import console
from midiforge.errors import MidiforgeError
from midiforge.training.config import build_config, field_defaults, read_config_file, read_recipe

DEFAULTS = field_defaults()

#: option flags (space-separated) -> (TrainConfig field, click type, help)
OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--model", "model", str, "Model plugin (see `midiforge plugins`)."),
    ("-o --out", "out", click.Path(), "Output folder (checkpoints, metrics, plots, samples)."),
    ("--epochs", "epochs", int, "Passes over the training split."),
    ("--max-steps", "max_steps", int, "Stop after N optimizer steps (0 = no limit)."),
    ("--max-minutes", "max_minutes", float, "Stop after this much wall time (0 = no limit)."),
    ("--batch-size", "batch_size", int, "Sequences per micro-batch (per process)."),
    ("--seq-len", "seq_len", int, "Training window length in tokens."),
    ("--lr", "lr", float, "Peak learning rate (AdamW)."),
    ("--min-lr-ratio", "min_lr_ratio", float, "Cosine decay ends at lr x this."),
    ("--warmup-steps", "warmup_steps", int, "Linear warm-up steps."),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay (matrices only)."),
    ("--grad-clip", "grad_clip", float, "Max gradient norm (0 = off)."),
    ("--accumulate", "accumulate", int, "Micro-batches per optimizer step (gradient accumulation)."),
    ("--eval-interval", "eval_interval", int, "Validate every N steps (0 = once per epoch)."),
    (
        "--checkpoint-interval",
        "checkpoint_interval",
        int,
        "Write last.* every N steps (0 = at each validation).",
    ),
    (
        "--checkpoint-minutes",
        "checkpoint_minutes",
        float,
        "Also write last.* (resumable) after this many minutes (0 = off).",
    ),
    ("--log-interval", "log_interval", int, "Metrics row every N steps."),
    ("--sample-interval", "sample_interval", int, "Write samples/step_N.mid every N steps (0 = off)."),
    ("--sample-tokens", "sample_tokens", int, "Tokens per sample."),
    ("--patience", "patience", int, "Early stopping: validations without improvement (0 = off)."),
    ("--max-val-batches", "max_val_batches", int, "Cap validation batches (0 = whole split)."),
    (
        "--init-from",
        "init_from",
        str,
        "Start from this checkpoint's weights ('default' = the shipped model); a bigger model of the "
        "same kind is grown from a smaller one.",
    ),
    ("--seed", "seed", int, "Random seed (runs are deterministic on CPU)."),
    ("--device", "device", str, "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps."),
    (
        "--precision",
        "precision",
        click.Choice(["auto", "fp32", "bf16"]),
        "auto = bf16 autocast on CUDA when supported.",
    ),
    (
        "--save-dtype",
        "save_dtype",
        click.Choice(["float32", "float16", "bfloat16"]),
        "dtype of best.safetensors.",
    ),
]


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_model_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("d_model=256", "positional=relative")`` -> ``{"d_model": 256, "positional": "relative"}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MidiforgeError(f"--model-opt wants KEY=VALUE, got '{pair}'")
        options[key.strip()] = _parse_value(value.strip())
    return options


def _add_options(func):
    for flags, name, kind, text in reversed(OPTIONS):
        func = click.option(*flags.split(), name, type=kind, default=None, help=f"{text} [default: {DEFAULTS[name]}]")(
            func
        )
    return func


@click.command("train")
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(),
    help="Prepared dataset folder; repeat to train on several (same codec).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(),
    default=None,
    help="TOML/YAML file of training options (TrainConfig keys, [model_config] table).",
)
@click.option(
    "--recipe",
    default=None,
    help="Shipped recipe (e.g. 'default') or a recipe file; other options override it.",
)
@click.option(
    "--model-opt",
    "model_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Model option, e.g. d_model=256 or positional=relative (repeatable).",
)
@click.option(
    "--resume",
    is_flag=True,
    default=False,
    help="Insist on continuing from OUT/last.state.pt (re-running into a run folder continues it anyway).",
)
@click.option("--no-progress", is_flag=True, default=False, help="No progress bar (for logs).")
@_add_options
def command(data, config_file, recipe, model_opts, resume, no_progress, **flags) -> None:
    """Train a model on datasets made by `midiforge prepare`.

    Example: midiforge train --model music-transformer --data datasets/bach-chorales --epochs 20
    """
    from midiforge.training import train

    layers = []
    if recipe:
        layers.append(read_recipe(recipe))
    if config_file:
        layers.append(read_config_file(config_file))
    given = {k: v for k, v in flags.items() if v is not None}
    if data:
        given["data"] = list(data)
    if model_opts:
        given["model_config"] = parse_model_options(model_opts)
    if resume:
        given["resume"] = True
    if no_progress:
        given["progress"] = False
    config = build_config(*layers, given)
    result = train(config)
    if int(os.environ.get("RANK", "0")) == 0:  # once under torchrun
        _print_summary(result)


def _print_summary(result) -> None:
    table = Table(title="training finished", show_header=False)
    table.add_row("stopped", result.stopped)
    table.add_row("steps", str(result.steps))
    table.add_row("best val loss", "-" if result.best_val_loss is None else f"{result.best_val_loss:.4f}")
    table.add_row("tokens seen", f"{result.tokens_seen:,}")
    table.add_row("wall time", f"{result.wall_s / 60:.1f} min")
    table.add_row("best checkpoint", str(result.best or "-"))
    table.add_row("metrics", str(result.out / "metrics.csv"))
    console.print(table)
