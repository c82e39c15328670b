"""``midiforge plugins``: every plugin with its kind, name, source distribution and version."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from midiforge.cli.common import console, err_console
from midiforge.registry import registry


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List installed plugins (built-in and third-party) and any that failed to load."""
    reg = registry()
    rows = [
        {
            "kind": e.kind,
            "name": e.name,
            "distribution": e.distribution,
            "version": e.version,
            "description": e.description,
        }
        for e in reg.all_entries()
    ]
    problems = [{"plugin": p.plugin, "problem": p.message} for p in reg.problems]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "problems": problems}, indent=2))
        return
    table = Table(title="midiforge plugins")
    for col in ("kind", "name", "distribution", "version", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["kind"], r["name"], r["distribution"], r["version"], r["description"])
    console.print(table)
    for p in problems:
        err_console.print(f"[yellow]Plugin problem[/yellow] {escape(p['plugin'])}: {escape(p['problem'])}", soft_wrap=True)
