"""``midiforge pipeline SOURCE``: analyze, prepare, train, generate and evaluate in one command."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from midiforge.cli.common import console, model_opt_option, out_folder_option, parse_key_values, progress
from midiforge.cli.dataclass_options import dataclass_options
from midiforge.cli.model_options import backend_option
from midiforge.pipeline import STAGES, PipelineResult, StageOutcome
from midiforge.training.config import TrainConfig, build_config


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def stage_figures(outcome: StageOutcome) -> str:
    """The one line of figures the summary table shows for a stage."""
    s = outcome.summary
    if not s:
        return ""
    if outcome.name == "analyze":
        return f"{s['ok']:,} of {s['files']:,} files analysed, {s['total_notes']:,} notes"
    if outcome.name == "prepare":
        seqs = s["sequences"]
        return f"{s['tokens']:,} tokens in {seqs['train']:,} train / {seqs['val']:,} val sequences"
    if outcome.name == "train":
        resumed = ", resumed" if s.get("resumed") else ""
        return f"{s['steps']:,} steps ({s['stopped']}{resumed}), best val loss {_fmt(s['best_val_loss'])}"
    if outcome.name == "generate":
        return f"{s['files']} {s['style']} files, {s['bars']} bars each ({s['backend']})"
    ppl = (
        _fmt(s["perplexity"], 2) if s.get("perplexity") is not None else f"- ({s.get('perplexity_note', '')})"
    )
    return (
        f"perplexity {ppl}; overlap area {_fmt(s['mean_overlap_area'])}, KLD {_fmt(s['mean_kl_divergence'])}; "
        f"in key {_fmt(s['in_key_ratio'], 2)}; longest copy {_fmt(s['max_copied_notes'])} notes"
    )


def print_summary(result: PipelineResult) -> None:
    not_run = [s.name for s in result.stages if s.status == "not run"]
    state = f"stopped before {not_run[0]}" if not_run else "pipeline finished"
    table = Table(title=f"{state}: {result.out}")
    for column in ("stage", "status", "results", "time"):
        table.add_column(column, justify="right" if column == "time" else "left")
    labels = {
        "ran": "[green]ran[/green]",
        "skipped": "skipped (done before)",
        "not run": "[dim]not run[/dim]",
    }
    for outcome in result.stages:
        seconds = f"{outcome.seconds:.1f} s" if outcome.status != "not run" else ""
        table.add_row(outcome.name, labels[outcome.status], stage_figures(outcome), seconds)
    console.print(table)
    console.print(f"state: {result.state_path}")


@click.command("pipeline")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--corpus", help="Corpus name instead of SOURCE (see `midiforge plugins`), e.g. bach-chorales.")
@click.option("--limit", type=int, default=None, help="Use only the first N files of the source.")
@out_folder_option("Output folder: analysis/, dataset/, model/, generated/, evaluation/ and stages.json.", Path("midiforge-pipeline"))
@dataclass_options(TrainConfig, "model", layered=True)
@model_opt_option
@dataclass_options(TrainConfig, "epochs", "max_steps", "max_minutes", "batch_size", "seq_len", "lr", "device",
                   layered=True)
@click.option(
    "--style", default="melody", show_default=True, help="Generation style (see `midiforge plugins`)."
)
@click.option("--n-clips", type=int, default=4, show_default=True, help="How many pieces to generate.")
@click.option("--bars", type=int, default=8, show_default=True, help="Bars per generated piece.")
@backend_option
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for the split, training and generation."
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="Worker processes for analysis and preparation."
)
@click.option("--until", type=click.Choice(STAGES), default=None, help="Stop after this stage.")
@click.option("--force", is_flag=True, help="Re-run every stage from scratch, even those already done.")
def command(source, corpus, limit, out, model_opts, style, n_clips, bars, backend, seed, workers, until, force,
            **training) -> None:
    """Run analyze -> prepare -> train -> generate -> evaluate on SOURCE (a folder of MIDI) or --corpus.

    A re-run skips the stages already done with the same inputs and options (stages.json) and
    continues an interrupted training; --force starts over.

    Example: midiforge pipeline my_midi/ --epochs 100
    """
    from midiforge.pipeline import PipelineOptions, run_pipeline

    given = {k: v for k, v in training.items() if v is not None}
    given["model_config"] = parse_key_values(model_opts, "--model-opt")
    options = PipelineOptions(
        path=source, corpus=corpus, out=out, limit=limit, training=build_config(given), style=style,
        n_clips=n_clips, bars=bars, backend=backend, seed=seed, workers=workers, until=until, force=force,
    )
    with progress() as bar:
        result = run_pipeline(options, progress=bar)
    print_summary(result)
