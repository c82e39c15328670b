"""The ``midiforge`` command line: a thin layer over the Python API.

Each subcommand lives in its own module here and is listed in ``COMMAND_MODULES``; every module
exposes a click command (or group) named ``command``.
"""

from __future__ import annotations

import importlib
import sys

import click

from midiforge import __version__
from midiforge.cli.common import console, run_cli

COMMAND_MODULES = [
    "midiforge.cli.plugins_cmd",
    "midiforge.cli.prepare_cmd",
    "midiforge.cli.analyze_cmd",
    "midiforge.cli.train_cmd",
    "midiforge.cli.download_cmd",
    "midiforge.cli.doctor_cmd",
    "midiforge.cli.generate_cmd",
    "midiforge.cli.infill_cmd",
    "midiforge.cli.vary_cmd",
    "midiforge.cli.export_cmd",
    "midiforge.cli.evaluate_cmd",
    "midiforge.cli.inspect_cmd",
    "midiforge.cli.pipeline_cmd",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="midiforge")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """midiforge: learn musical patterns from MIDI and generate new ones."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_name).command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    sys.exit(run_cli(cli, argv))


__all__ = ["cli", "main", "console"]
