"""The ``midiforge`` command line: a thin layer over the Python API.

Each subcommand lives in its own module here and is listed in ``COMMAND_MODULES``; every module
exposes a click command (or group) named ``command``. Modules are imported only when their command
runs, so ``midiforge generate`` never pays for importing the training stack.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

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
    "midiforge.cli.studio_cmd",
]


def _command_name(module: str) -> str:
    return module.rsplit(".", 1)[1].removesuffix("_cmd")


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {_command_name(m) for m in COMMAND_MODULES})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands:
            module = next((m for m in COMMAND_MODULES if _command_name(m) == name), None)
            if module is None:
                return None
            self.add_command(importlib.import_module(module).command, name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``midiforge --help`` without importing the commands' modules (some
        pull in PyTorch): a module not loaded yet gives the first line of its ``command`` docstring."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            cmd = self.commands.get(name)
            if cmd is not None:
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
                continue
            doc = _command_docstring(next(m for m in COMMAND_MODULES if _command_name(m) == name))
            rows.append((name, click.utils.make_default_short_help(doc.split("\f", 1)[0], limit).strip()))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _command_docstring(module: str) -> str:
    """The docstring of ``module.command``, read from the source without importing the module."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "command":
            return ast.get_docstring(node) or ""
    return ""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="midiforge")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """midiforge: learn musical patterns from MIDI and generate new ones."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    sys.exit(run_cli(cli, argv))


__all__ = ["cli", "main", "console"]
