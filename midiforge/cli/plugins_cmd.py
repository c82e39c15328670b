"""``midiforge plugins``: every registration with its kind, name, plugin, distribution and version,
then the plugins that are disabled or broken and why."""

from __future__ import annotations

import json

import click
from rich.table import Table

from midiforge.cli.common import console, err_console
from midiforge.registry import DISABLE_ENV, registry


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List installed plugins (built-in and third-party) and any that failed to load.

    MIDIFORGE_DISABLE=name[,name] turns plugins (the 'plugin' column) or single registrations
    (kind:name) off; MIDIFORGE_PREFER=name lets that plugin replace built-ins of the same name."""
    reg = registry()
    rows = [
        {
            "kind": e.kind,
            "name": e.name,
            "plugin": e.plugin,
            "distribution": e.distribution,
            "version": e.version,
            "description": e.description,
        }
        for e in reg.all_entries()
    ]
    modules = [
        {"plugin": p.name, "distribution": p.distribution, "version": p.version, "status": p.status}
        for p in reg.plugins.values()
    ]
    problems = [{"plugin": p.plugin, "problem": p.message} for p in reg.problems]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "modules": modules, "problems": problems, "notes": reg.notes},
                              indent=2))
        return
    table = Table(title="midiforge plugins")
    for col in ("kind", "name", "plugin", "distribution", "version", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["kind"], r["name"], r["plugin"], r["distribution"], r["version"], r["description"])
    console.print(table)
    disabled = [m["plugin"] for m in modules if m["status"] == "disabled"]
    if disabled:
        err_console.print(f"Disabled ({DISABLE_ENV}): {', '.join(disabled)}", soft_wrap=True)
    for note in reg.notes:
        err_console.print(note, soft_wrap=True)
    for p in problems:
        err_console.print(f"[yellow]Plugin problem[/yellow] {p['plugin']}: {p['problem']}", soft_wrap=True)
