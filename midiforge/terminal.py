"""The terminal every part of midiforge writes to: one console for results, one for messages and
progress (stderr), midiforge's progress bar, and the callback that draws a bar per stage.

Core modules (training, download, the pipeline) import this, never the CLI.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

#: How the stages that ``analyze`` and ``prepare_dataset`` report are labelled on their bars.
STAGE_LABELS = {"convert": "converting corpus", "analyze": "analyzing", "tokenize": "tokenizing"}


class _Progress(Progress):
    """A run that fails ends with its one-line error, not with a stale progress bar above it."""

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.live.transient = True
        super().__exit__(exc_type, exc, tb)


def progress(transient: bool = False) -> Progress:
    """A rich progress bar in midiforge's house style."""
    return _Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    )


def stage_progress(bar: Progress | None) -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` callback (analyze, prepare) that draws one bar per stage on
    ``bar`` (nothing when it is None)."""
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if bar is None:
            return
        if stage not in tasks:
            tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total, info="")
        bar.update(tasks[stage], completed=done, total=total)

    return update
