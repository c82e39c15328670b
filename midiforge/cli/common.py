"""Shared CLI helpers: one console, one-line errors, progress bars."""

from __future__ import annotations

import sys
import traceback

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)

from midiforge.errors import MidiforgeError

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def progress(transient: bool = False) -> Progress:
    """A rich progress bar in midiforge's house style."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    )


def _wants_debug(argv: list[str]) -> bool:
    return "--debug" in argv


def run_cli(group: click.Group, argv: list[str] | None = None) -> int:
    """Run the click group; turn expected failures into one clear line and a non-zero exit."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        group.main(args=argv, prog_name="midiforge", standalone_mode=False)
        return 0
    except click.exceptions.Abort:
        err_console.print("[red]Aborted.[/red]")
        return 130
    except click.exceptions.Exit as exc:
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
                f"[red]Error:[/red] {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                soft_wrap=True,
            )
        return 1
    except KeyboardInterrupt:
        err_console.print("[red]Interrupted.[/red] Work already written is kept; re-run to resume.")
        return 130
