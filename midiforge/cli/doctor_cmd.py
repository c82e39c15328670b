"""``midiforge doctor``: device situation, library versions and fixes for common setup problems."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from midiforge.cli.common import console
from midiforge.doctor import PACKAGES, REQUIRED, Report, diagnose

_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def _device_line(report: Report) -> str:
    f = report.facts
    if report.device == "cuda":
        return f"CUDA {f.torch_cuda_build}: {', '.join(f.cuda_devices)}"
    if report.device == "mps":
        return "Apple MPS (Metal)"
    return "CPU" + (" (PyTorch not importable)" if f.torch_error else "")


def render(report: Report) -> None:
    f = report.facts
    system = Table(title="midiforge doctor", show_header=False)
    system.add_column(style="bold")
    system.add_column()
    system.add_row("python", f"{f.python} ({f.executable})")
    system.add_row("platform", f"{f.system} {f.machine}" + (" under Rosetta" if f.rosetta else ""))
    system.add_row("training device", _device_line(report))
    system.add_row("onnxruntime providers", ", ".join(f.onnxruntime_providers) or "-")
    system.add_row("live MIDI output", "available" if f.midi_problem is None else "unavailable")
    console.print(system)

    packages = Table(title="packages")
    packages.add_column("package")
    packages.add_column("version")
    for name in PACKAGES:
        version = f.versions.get(name)
        shown = version or ("[red]missing[/red]" if name in REQUIRED else "[dim]not installed[/dim]")
        packages.add_row(name, shown)
    console.print(packages)

    if not report.findings:
        console.print("[green]No problems found.[/green]")
        return
    problems = Table(title="problems and fixes")
    for column in ("severity", "problem", "fix"):
        problems.add_column(column)
    for finding in report.findings:
        style = _STYLE[finding.severity]
        problems.add_row(f"[{style}]{finding.severity}[/{style}]", escape(finding.problem), escape(finding.fix))
    console.print(problems)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(as_json: bool) -> None:
    """Check this machine: CUDA / MPS / CPU, library versions, and fixes for common problems.

    Always exits 0: the report is the result.
    """
    report = diagnose()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render(report)
