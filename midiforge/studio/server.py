"""Run the studio: uvicorn on 127.0.0.1, then open the page in the browser."""

from __future__ import annotations

import socket
import threading
import webbrowser
from pathlib import Path

from midiforge.errors import MidiforgeError

DEFAULT_PORT = 8765


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def serve(folder: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, open_browser: bool = True,
          model: str | None = None, on_ready=None) -> None:
    """Serve the studio for ``folder`` until Ctrl-C (``on_ready(url)`` is called once it listens)."""
    from midiforge.extras import require

    uvicorn = require("uvicorn", "studio")
    require("starlette", "studio")
    from midiforge.studio.app import create_app
    from midiforge.studio.service import Studio

    if port and not port_free(host, port):
        raise MidiforgeError(f"port {port} on {host} is in use (is a studio already open?); pass --port N")
    app = create_app(Studio(Path(folder), model=model))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            url = f"http://{host}:{bound}/"
            if on_ready:
                on_ready(url)
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run()
