"""``midiforge prepare``: tokenize MIDI files or a corpus into a training dataset."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from midiforge.cli.common import console, out_folder_option, parse_key_values, progress, stage_progress
from midiforge.cli.dataclass_options import dataclass_options
from midiforge.data.prepare import PrepareOptions, PrepareSummary, prepare_dataset
from midiforge.errors import MidiforgeError


def _transpose_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(x) for x in text.split(":"))
    except ValueError:
        raise MidiforgeError(f"--transpose must look like -5:6, got '{text}'") from None
    return low, high


def _check_tokenizer(name: str, params: dict) -> None:
    """Refuse, before any work, a tokenizer whose tokens generation could not turn into notes."""
    from midiforge.data.codec import Codec
    from midiforge.generation.grammar import check_tokenizer

    check_tokenizer(Codec(name, params))


def print_summary(summary: PrepareSummary) -> None:
    table = Table(title=f"dataset {summary.out} ({summary.corpus})")
    for col in ("split", "files", "sequences", "tokens"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("train", "val"):
        table.add_row(
            split,
            f"{summary.split_files[split]:,}",
            f"{summary.sequences[split]:,}",
            f"{summary.tokens[split]:,}",
        )
    console.print(table)
    console.print(
        f"files: {summary.files:,} found, {summary.prepared:,} prepared, {summary.skipped:,} skipped, "
        f"{summary.resumed:,} already done; vocabulary {summary.vocab_size} tokens; {summary.seconds:.1f} s"
    )
    for reason, count in summary.skip_reasons.items():
        console.print(f"  [yellow]skipped[/yellow] {count:,} x {reason}")
    if summary.skipped:
        console.print(f"  per-file reasons: {summary.out / 'report.json'}")


@click.command("prepare")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--corpus",
    help="Corpus name instead of PATH: band (the default model's), bach-chorales, folk, palestrina, user (with "
    "--path); nottingham, pop909, lmd-clean, maestro are downloaded first. `midiforge plugins` lists all.",
)
@click.option(
    "--path", "corpus_path", type=click.Path(path_type=Path), help="Folder of MIDI files for --corpus user."
)
@out_folder_option("Dataset folder [default: datasets/<corpus or folder name>].")
@click.option("--limit", type=int, help="Use only the first N files of the corpus (folk has ~11,500 tunes).")
@dataclass_options(PrepareOptions, "tokenizer", "max_seq_len")
@click.option(
    "--transpose",
    "transpose",
    default=f"{PrepareOptions.transpose_low}:{PrepareOptions.transpose_high}",
    show_default=True,
    help="Transposition range LOW:HIGH in semitones (0:0 = none).",
)
@dataclass_options(PrepareOptions, "infill_prob", "val_fraction", "seed")
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
@dataclass_options(PrepareOptions, "max_file_mb")
@click.option("--tokenizer-param", "tokenizer_params", multiple=True, metavar="KEY=VALUE",
              help="Tokenizer (MidiTok) parameter, e.g. use_velocities=false; saved with the dataset's codec.")
def command(
    path,
    corpus,
    corpus_path,
    out,
    limit,
    tokenizer,
    max_seq_len,
    transpose,
    infill_prob,
    val_fraction,
    seed,
    workers,
    max_file_mb,
    tokenizer_params,
) -> None:
    """Tokenize PATH (a folder of .mid/.midi files) or --corpus NAME into a dataset.

    Resumable: a re-run skips files already done. Bad files are skipped with a reason.
    """
    if path is not None and corpus_path is not None:
        raise MidiforgeError("give PATH or --path, not both")
    path = path or corpus_path
    low, high = _transpose_range(transpose)
    options = PrepareOptions(
        tokenizer=tokenizer,
        tokenizer_params=parse_key_values(tokenizer_params, "--tokenizer-param"),
        max_seq_len=max_seq_len,
        transpose_low=low,
        transpose_high=high,
        infill_prob=infill_prob,
        val_fraction=val_fraction,
        seed=seed,
        max_file_mb=max_file_mb,
    )
    _check_tokenizer(tokenizer, options.tokenizer_params)
    if out is None:
        name = corpus if corpus and path is None else (Path(path).resolve().name if path else "dataset")
        out = Path("datasets") / (f"{name}-{limit}" if limit else name)
    with progress() as bar:
        summary = prepare_dataset(
            out, path=path, corpus=corpus, options=options, limit=limit, workers=workers, progress=stage_progress(bar)
        )
    print_summary(summary)
