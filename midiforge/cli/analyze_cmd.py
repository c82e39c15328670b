"""``midiforge analyze``: statistics of MIDI files or a corpus (table, JSON report, PNG histograms)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from midiforge.cli.common import console, err_console, out_folder_option, progress, stage_progress
from midiforge.data.analyze import AnalysisReport, analyze
from midiforge.data.midi_io import DEFAULT_MAX_MB, LoadLimits
from midiforge.errors import MidiforgeError

FILE_COLUMNS = (
    ("name", "file"),
    ("tempo_bpm", "bpm"),
    ("time_signature", "meter"),
    ("duration_s", "sec"),
    ("tracks", "tracks"),
    ("programs", "programs"),
    ("notes", "notes"),
    ("pitch", "pitch"),
    ("onset_polyphony_mean", "poly"),
    ("key", "key"),
)


def _cell(info: dict, key: str) -> str:
    if key == "pitch":
        return f"{info['pitch_min']}-{info['pitch_max']}" if info.get("pitch_min") is not None else "-"
    if key == "programs":
        return ",".join(str(p) for p in info["programs"])
    value = info.get(key)
    return "-" if value is None else str(value)


def print_report(report: AnalysisReport, max_rows: int) -> None:
    ok = [f for f in report.files if f["status"] == "ok"]
    if max_rows > 0 and ok:
        table = Table(title=f"files (first {min(max_rows, len(ok))} of {len(ok)})")
        for _, header in FILE_COLUMNS:
            table.add_column(header, overflow="fold")
        for info in sorted(ok, key=lambda f: f["name"])[:max_rows]:
            table.add_row(*(_cell(info, key) for key, _ in FILE_COLUMNS))
        console.print(table)
    s = report.summary
    summary = Table(title=f"summary: {report.corpus}", show_header=False)
    summary.add_column("what")
    summary.add_column("value", overflow="fold")
    summary.add_row("files", f"{s['files']:,} ({s['ok']:,} ok, {s['skipped']:,} skipped)")
    summary.add_row("notes / hours", f"{s['total_notes']:,} / {s['total_hours']:.2f}")
    for key in ("tempo_bpm", "duration_s", "notes", "onset_polyphony_mean"):
        d = s[key]
        if d:
            summary.add_row(key, f"min {d['min']}  median {d['median']}  mean {d['mean']}  max {d['max']}")
    summary.add_row("pitch range", f"{s['pitch_range'][0]}-{s['pitch_range'][1]}")
    for key in ("time_signatures", "keys", "tracks", "programs", "roles"):
        summary.add_row(key, ", ".join(f"{k}: {v}" for k, v in list(s[key].items())[:12]))
    console.print(summary)
    for reason, count in s["skip_reasons"].items():
        console.print(f"  [yellow]skipped[/yellow] {count:,} x {reason}")
    for name, where in report.outputs.items():
        console.print(f"{name}: {where}")


@click.command("analyze")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--corpus", help="Analyze a corpus instead of PATH (bach-chorales, folk, palestrina).")
@out_folder_option("Folder for analysis.json and histograms.png [default: analysis/<name>].")
@click.option("--limit", type=int, help="Only the first N files.")
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
@click.option("--max-rows", default=30, show_default=True, help="Per-file rows to print (0 = summary only).")
@click.option("--max-file-mb", default=DEFAULT_MAX_MB, show_default=True, help="Skip files larger than this.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of tables.")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier analysis in the folder (default: write to FOLDER-2, FOLDER-3, ...).")
def command(path, corpus, out, limit, workers, max_rows, max_file_mb, as_json, overwrite) -> None:
    """Per-file and summary statistics: tempo, meter, duration, tracks/programs, notes, pitch
    range, polyphony at note onsets and estimated key, plus a JSON report and PNG histograms."""
    if path is None and corpus is None:
        raise MidiforgeError("give a PATH to MIDI files or --corpus NAME")
    if workers < 1:
        raise MidiforgeError(f"--workers must be at least 1, got {workers}")
    if out is None:
        name = corpus if corpus else Path(path).resolve().name
        out = Path("analysis") / name
    with progress(transient=as_json) as bar:
        report = analyze(
            path,
            corpus,
            out=out,
            limit=limit,
            workers=workers,
            progress=stage_progress(bar),
            limits=LoadLimits(max_mb=max_file_mb),
            overwrite=overwrite,
        )
    written = Path(report.outputs["json"]).parent
    if written != out:
        err_console.print(f"{out} already holds an analysis (kept): this one is in {written}", soft_wrap=True)
    if as_json:
        click.echo(json.dumps(dict(report.to_dict(), outputs=report.outputs), indent=1))
    else:
        print_report(report, max_rows)
