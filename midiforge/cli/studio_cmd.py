"""``midiforge studio``: a local web page to generate, audition, edit and export music."""

from __future__ import annotations

from pathlib import Path

import click

from midiforge.cli.common import console, err_console


@click.command("studio")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=Path("midiforge-studio"),
              show_default=True, help="Where results and history are kept (reopened on the next start).")
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1 (0 = any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but 127.0.0.1 lets other machines use your studio.")
@click.option("--no-browser", is_flag=True, help="Do not open the page in the browser.")
@click.option("--model", default=None, help="Exported model (.onnx) or checkpoint; default: the shipped model.")
def command(folder: Path, port: int, host: str, no_browser: bool, model: str | None) -> None:
    """Open the studio page: controls, piano rolls, playback, Regenerate/Vary of chosen bars, downloads."""
    from midiforge.studio.server import serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]Warning:[/yellow] binding {host}: anyone who can reach it can use the studio")
    serve(folder, host=host, port=port, open_browser=not no_browser, model=model,
          on_ready=lambda url: console.print(f"midiforge studio at [bold]{url}[/bold] (folder {folder}); Ctrl-C stops"))
