"""Shared CLI helpers: one-line errors, ``KEY=VALUE`` options, and the terminal (``midiforge.terminal``)."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from midiforge.errors import MidiforgeError
from midiforge.terminal import console, err_console, progress, stage_progress

__all__ = ["console", "err_console", "model_opt_option", "parse_key_values", "progress", "run_cli",
           "stage_progress"]


def parse_key_values(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``("d_model=256", "positional=relative")`` -> ``{"d_model": 256, "positional": "relative"}``:
    each value read as JSON when it parses (numbers, true/false), else kept as text; ``-`` in a key
    reads as ``_``. ``option`` names the flag in the one-line error."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip().replace("-", "_"), value.strip()
        if not sep or not key:
            raise MidiforgeError(f"{option} wants KEY=VALUE, got '{pair}'")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def model_opt_option(fn):
    """``--model-opt KEY=VALUE`` (repeatable; read with ``parse_key_values(..., "--model-opt")``)."""
    return click.option("--model-opt", "model_opts", multiple=True, metavar="KEY=VALUE",
                        help="Model option, e.g. d_model=256 or positional=relative (repeatable).")(fn)


def _wants_debug(argv: list[str]) -> bool:
    return "--debug" in argv


def run_cli(group: click.Group, argv: list[str] | None = None) -> int:
    """Run the click group; turn expected failures into one clear line and a non-zero exit."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # standalone_mode=False: click returns (not raises) the code of a ``click.exceptions.Exit``
        result = group.main(args=argv, prog_name="midiforge", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Abort:
        err_console.print("[red]Aborted.[/red]")
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one line, like every other error, instead of usage + hint + error
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        err_console.print(f"[red]Error:[/red] {escape(exc.format_message())}{where}", soft_wrap=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except MidiforgeError as exc:
        if _wants_debug(argv):
            traceback.print_exc()
        err_console.print(f"[red]Error:[/red] {escape(str(exc))}", soft_wrap=True)
        return 1
    except ModuleNotFoundError as exc:  # a feature from an extra that is not installed
        from midiforge.extras import missing_extra_message

        hint = missing_extra_message(exc, next((a for a in argv if not a.startswith("-")), None))
        if hint is None or _wants_debug(argv):
            raise
        err_console.print(f"[red]Error:[/red] {escape(hint)}", soft_wrap=True)
        return 1
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        if _wants_debug(argv):
            traceback.print_exc()
        else:
            err_console.print(
                f"[red]Error:[/red] {type(exc).__name__}: {escape(str(exc))} (run with --debug for the traceback)",
                soft_wrap=True,
            )
        return 1
    except KeyboardInterrupt:
        err_console.print("[red]Interrupted.[/red] Work already written is kept; re-run to resume.")
        return 130


def out_folder_option(help: str, default: Path | None = None):
    """The ``-o/--out FOLDER`` option every folder-writing command takes (shown default when given)."""
    return click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=default,
                        show_default=default is not None, help=help)


def settings_file_option(aliases: dict[str, str] | None = None):
    """``--config FILE``: a TOML/YAML/JSON table of this command's options (``tempo = 96``,
    ``n-songs = 10``) that stand in for their defaults; options typed on the command line win.
    ``aliases`` maps other spellings of a key to its parameter name (``n_songs`` → ``n``)."""

    def load(ctx: click.Context, _param: click.Parameter, path: Path | None) -> None:
        if path is None:
            return
        from midiforge.settings import read_config_file

        names = {p.name for p in ctx.command.params if p.name and p.expose_value}
        table = {}
        for key, value in read_config_file(path).items():
            name = str(key).strip().lstrip("-").replace("-", "_")
            name = (aliases or {}).get(name, name)
            if name not in names:
                raise MidiforgeError(f"{path}: unknown option '{key}' (known: {', '.join(sorted(names))})")
            table[name] = str(value) if isinstance(value, Path) else value
        ctx.default_map = {**(ctx.default_map or {}), **table}

    return click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        is_eager=True, expose_value=False, callback=load,
                        help="TOML/YAML/JSON file of this command's options (keys as the flags, e.g. tempo = 96); "
                             "options on the command line win.")
