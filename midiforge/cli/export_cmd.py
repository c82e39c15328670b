"""``midiforge export FORMAT [CHECKPOINT] -o OUT``: export a model and validate it against PyTorch."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from midiforge.cli.common import console, parse_key_values
from midiforge.errors import MidiforgeError
from midiforge.registry import registry


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def report_table(report) -> Table:
    """Validation figures: max |logit difference| vs PyTorch for the full pass and one step."""
    table = Table(title=f"{report.format} export of {report.checkpoint}", caption=f"checked with {report.method}")
    for col in ("file", "size", "max Δ full", "max Δ step", "tolerance", "top-1", "ok"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for a in report.artifacts:
        table.add_row(
            f"{a.path.name}\n[dim]{a.note}[/dim]" if a.note else a.path.name,
            _size(a.size_bytes),
            f"{a.max_abs_err_full:.1e}",
            f"{a.max_abs_err_step:.1e}",
            f"{a.tolerance:.0e}",
            f"{a.top1_agreement:.0%}",
            "[green]yes[/green]" if a.passed else "[red]NO[/red]",
        )
    return table


@click.command("export")
@click.argument("format", metavar="FORMAT")
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Output file (default: checkpoint name + the format's suffix).")
@click.option(
    "-O",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Exporter option, repeatable. onnx: opset, tolerance, attention (auto|fused|plain), quantize (none|fp16|int8). coreml: variants (stateful,stateless), "
    "precision (fp16|fp32), compress (none|int8|palettize4|palettize6), max_len, tolerance.",
)
def command(format: str, checkpoint: Path | None, out: Path | None, options: tuple[str, ...]) -> None:
    """Export CHECKPOINT (default: the shipped model) to FORMAT (onnx, coreml, or a plugin's).

    The exported model is run on real token sequences and its logits compared with PyTorch's, for
    the whole-sequence pass and for one incremental step; the command fails (exit 1) when they
    differ by more than the stated tolerance, and then writes nothing (a file already at -o is kept).
    """
    from midiforge.exporting.api import export_model

    if format not in registry().names("exporter"):
        raise MidiforgeError(f"unknown export format '{format}' (available: {', '.join(registry().names('exporter'))})")
    kwargs = parse_key_values(options, "--option")
    with console.status(f"exporting to {format} and validating against PyTorch..."):
        report = export_model(format, checkpoint, out, **kwargs)
    console.print(report_table(report))
    if not report.passed:
        where = ", ".join(str(a.path) for a in report.artifacts) or str(out)
        raise MidiforgeError(
            f"validation failed: the exported model's logits differ from PyTorch's by up to "
            f"{max(report.max_abs_err_full, report.max_abs_err_step):.1e} (tolerance {report.tolerance:.0e}); "
            f"nothing was written to {where}"
        )
    console.print(f"[green]Exported[/green] {', '.join(str(p) for p in report.paths)}")
