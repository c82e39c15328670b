"""``generate --live``: generate in one thread while the first piece plays from its feed in another."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from midiforge.live.clock import Clock
from midiforge.live.feed import LiveFeed
from midiforge.live.player import LiveReport, LiveStreamer, stream_files
from midiforge.live.ports import OutputPort, open_port


def generate_live(
    style: str,
    options: Any,
    port_name: str | None = None,
    clock: Clock | None = None,
    port: OutputPort | None = None,
    lookahead_beats: float = 4.0,
    out: str | Path = "midiforge-output",
    preview: bool = False,
    overwrite: bool = False,
    **engine_options: Any,
) -> tuple[Any, LiveReport]:
    """``generate`` while the first piece plays bar by bar as it is sampled; then play the rest.

    The port is opened before generating (a bad port name fails at once). Files are written as
    soon as generation ends, unless playback was stopped first. ``engine_options`` are
    ``model``, ``backend``, ``device`` or a loaded ``engine``. Returns the
    :class:`~midiforge.generation.GenerateResult` and the summed :class:`LiveReport`.
    """
    from dataclasses import replace

    from midiforge.generation import generate_pieces, write_result

    feed = LiveFeed()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            result = generate_pieces(style, replace(options, listener=feed), **engine_options)
            feed.raise_if_cancelled()  # stopped while the last chunk was sampled: write nothing
            box["result"] = write_result(result, out, preview, overwrite)
            feed.close(final_score=result.pieces[0].score if result.pieces else None)
        except BaseException as exc:  # re-raised by the playing thread
            feed.close(error=exc)

    owned = port is None
    device = open_port(port_name) if port is None else port
    try:
        worker = threading.Thread(target=work, name="midiforge-generate", daemon=True)
        worker.start()
        streamer = LiveStreamer(device, clock=clock, tempo_bpm=options.tempo_bpm())
        try:
            report = streamer.stream_bars(feed, lookahead_beats=lookahead_beats)
        except BaseException:
            feed.cancel()  # stop the model at its next chunk rather than kill the process under it
            worker.join(timeout=60)
            raise
        worker.join()
        result = box["result"]
        rest = result.files[1:] if feed.started else result.files
        report.add(stream_files(rest, clock=clock, port=device))
    finally:
        if owned:
            device.close()
    return result, report
