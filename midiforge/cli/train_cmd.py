"""``midiforge train``: train a model plugin on prepared datasets (thin layer over ``midiforge.training.train``).

Option precedence: TrainConfig defaults < ``--recipe`` < ``--config`` file < flags on the command line.
Under ``torchrun --nproc_per_node N $(which midiforge) train ...`` the processes train one model with DDP.
"""

from __future__ import annotations

import os

import click
from rich.table import Table

from midiforge.cli.common import console, model_opt_option, parse_key_values
from midiforge.cli.dataclass_options import dataclass_options
from midiforge.training.config import TrainConfig, build_config, read_config_file, read_recipe


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
@model_opt_option
@click.option(
    "--resume",
    is_flag=True,
    default=False,
    help="Insist on continuing from OUT/last.state.pt (re-running into a run folder continues it anyway).",
)
@click.option("--no-progress", is_flag=True, default=False, help="No progress bar (for logs).")
@dataclass_options(TrainConfig, layered=True)
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
        given["model_config"] = parse_key_values(model_opts, "--model-opt")
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
