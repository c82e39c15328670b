"""``midiforge evaluate``: objective metrics of generated MIDI against real music, and perplexity."""

from __future__ import annotations

from pathlib import Path

import click

from midiforge.cli.common import console, out_folder_option, progress
from midiforge.cli.dataclass_options import dataclass_options
from midiforge.errors import MidiforgeError
from midiforge.evaluation.report import EvaluationSettings


@click.command("evaluate")
@click.argument("generated", required=False)
@click.option(
    "-r",
    "--reference",
    metavar="DIR|CORPUS|DATASET",
    help="Real music to compare with: a folder or file of MIDI, a corpus name (see `midiforge plugins`), "
    "or a prepared dataset folder (its held-out val files; DATASET:train for the others).",
)
@click.option(
    "--training",
    metavar="DIR|CORPUS|DATASET",
    help="What originality is checked against: folder, corpus, or a prepared dataset (its train files); "
    "default: the reference.",
)
@out_folder_option("Folder for report.json and distributions.png.", Path("evaluation"))
@dataclass_options(EvaluationSettings, "ngram_notes", "copy_threshold_notes", "max_pairs", "max_reference_files", "seed")
@click.option(
    "--perplexity",
    "checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also measure this checkpoint's perplexity on --data.",
)
@click.option(
    "--data",
    metavar="DATASET|DIR",
    help="Held-out data for --perplexity: a prepared dataset folder (its val split) or a folder of MIDI files.",
)
@click.option(
    "--seq-len", type=click.IntRange(2), default=None, help="Window length for perplexity [default: model's]"
)
@click.option("--batch-size", type=click.IntRange(1), default=8, help="Windows per batch for perplexity.")
@click.option("--device", default="cpu", help="Torch device for perplexity (cpu, cuda, mps).")
@click.option("--plot/--no-plot", default=True, help="Write distributions.png beside report.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of tables.")
def command(
    generated: str | None,
    reference: str | None,
    training: str | None,
    out: Path,
    checkpoint: Path | None,
    data: str | None,
    seq_len: int | None,
    batch_size: int,
    device: str,
    plot: bool,
    as_json: bool,
    **settings: int | None,
) -> None:
    """Evaluate GENERATED MIDI (a folder or file; DATASET:val for real held-out music) against real music.

    Reports literature metrics per set (pitch-class entropy, scale consistency, pitch range,
    polyphony, empty beats, groove, inter-onset interval, note-length and pitch-class transition
    histograms) with Yang & Lerch's overlapping area and KL divergence, harmonic coherence, and
    originality (longest passage copied from the training data). With --perplexity CHECKPOINT
    --data DATA it also measures the model's perplexity; GENERATED may then be left out.
    """
    from midiforge.evaluation import (
        EvaluationReport,
        evaluate,
        perplexity,
        render,
        save_report,
    )

    if generated is None and checkpoint is None:
        raise MidiforgeError(
            "give GENERATED (a folder of MIDI) and --reference, or --perplexity CHECKPOINT --data DATA"
        )
    if generated is not None and reference is None:
        raise MidiforgeError("--reference CORPUS|DIR is required to evaluate GENERATED")
    if (checkpoint is None) != (data is None):
        raise MidiforgeError("--perplexity CHECKPOINT and --data DATA go together")
    with progress(transient=True) as bar:
        report = (
            evaluate(generated, reference, training=training, settings=EvaluationSettings(**settings), progress=bar)
            if generated is not None
            else None
        )
        if checkpoint is not None:
            result = perplexity(
                checkpoint, data, seq_len=seq_len, batch_size=batch_size, device=device, progress=bar
            )
            report = report or EvaluationReport.perplexity_only(result)
            report.perplexity = result
    written = save_report(report, out, plot=plot)
    if as_json:
        click.echo(report.to_json())
        return
    render(report, console)
    console.print("Wrote " + ", ".join(str(p) for p in written))
