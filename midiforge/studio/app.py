"""The studio's HTTP side: a Starlette app serving the page, a JSON API and the result files.

Safety: request bodies over :data:`MAX_BODY` bytes are refused (413) before they are read; file
endpoints take result ids only (checked by the history) or paths that must resolve inside the
studio folder; every error is a JSON ``{"error": "one line"}`` and the server keeps running.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from midiforge.errors import MidiforgeError
from midiforge.studio.history import NotFound, Outside
from midiforge.studio.service import STYLES, TRACKS, Studio
from midiforge.studio.view import score_view

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 64 * 1024  # bytes: settings and chord text only, never files


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes, declared or streamed."""

    def __init__(self, app, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(self.limit)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> Response:
    return JSONResponse({"error": f"request too large (the limit is {limit // 1024} KiB)"}, status_code=413)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise MidiforgeError("the request is not valid JSON") from None
    if not isinstance(body, dict):
        raise MidiforgeError("the request must be a JSON object")
    return body


def create_app(studio: Studio) -> Starlette:
    """The app for one :class:`Studio` (its folder, model and queue)."""
    history = studio.history

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def options(request: Request) -> Response:
        from midiforge.data.vocab import DENSITIES, GROOVES
        from midiforge.music.keys import ALL_KEYS

        return JSONResponse({"styles": list(STYLES), "tracks": list(TRACKS), "keys": [k.name for k in ALL_KEYS],
                             "meters": ["4/4", "3/4", "6/8", "2/4", "5/4", "7/8"], "folder": str(history.root),
                             "drums": True, "grooves": [g for g in GROOVES if g != "none"],
                             "densities": list(DENSITIES)})

    async def check(request: Request) -> Response:
        """Validate the settings without running the model (the page checks chords as you type)."""
        spans = studio.check_generate(await _json_body(request)).options.progression() or []
        return JSONResponse({"ok": True, "chords": len(spans), "symbols": [s.chord.symbol for s in spans]})

    async def generate(request: Request) -> Response:
        job = studio.submit_generate(await _json_body(request))
        return JSONResponse(studio.jobs.snapshot(job), status_code=202)

    async def edit(request: Request) -> Response:
        job = studio.submit_edit(await _json_body(request))
        return JSONResponse(studio.jobs.snapshot(job), status_code=202)

    async def job(request: Request) -> Response:
        return JSONResponse(studio.jobs.snapshot(studio.jobs.get(request.path_params["job_id"])))

    async def results(request: Request) -> Response:
        return JSONResponse({"results": [e.summary() for e in history.list()]})

    async def result(request: Request) -> Response:
        entry = history.get(request.path_params["rid"])
        parent = history.get(entry.meta["parent"]).midi if entry.meta.get("parent") else None
        return JSONResponse({**entry.summary(), "meta": entry.meta, "view": score_view(entry.midi, parent),
                             "midi": f"/api/results/{entry.id}/midi", "zip": f"/api/results/{entry.id}/zip"})

    async def midi(request: Request) -> Response:
        entry = history.get(request.path_params["rid"])
        return FileResponse(entry.midi, media_type="audio/midi", filename=_download_name(entry) + ".mid")

    async def zip_(request: Request) -> Response:
        entry = history.get(request.path_params["rid"])
        return Response(_zip(entry), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{_download_name(entry)}.zip"'})

    async def files(request: Request) -> Response:
        """Any file of the studio folder by its relative path; nothing outside it."""
        path = history.inside(history.root / request.path_params["path"])
        if not path.is_file():
            return _error("not found", 404)
        return FileResponse(path)

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, MidiforgeError):
            return _error(str(exc), 403 if isinstance(exc, Outside) else 404 if isinstance(exc, NotFound) else 400)
        return _error(f"{type(exc).__name__}: {exc}", 500)

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/edit", edit, methods=["POST"]),
        Route("/api/jobs/{job_id}", job),
        Route("/api/results", results),
        Route("/api/results/{rid}", result),
        Route("/api/results/{rid}/midi", midi),
        Route("/api/results/{rid}/zip", zip_),
        Route("/files/{path:path}", files),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={MidiforgeError: on_error, Exception: on_error})
    app.add_middleware(BodyLimit)
    return app


def _download_name(entry) -> str:
    from midiforge.generation.pieces import slug

    return slug(f"midiforge_{entry.meta.get('title', '')}_{entry.id}")[:120]


def _zip(entry) -> bytes:
    """The song, each track as its own file (one per DAW track) and how it was made."""
    from midiforge.generation.infill import load_song

    score = load_song(entry.midi)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(entry.midi, "song.mid")
        for i, track in enumerate(score.tracks):
            single = score.copy()
            single.tracks = [track]
            zf.writestr(f"tracks/{i + 1:02d}_{track.name or 'track'}.mid", single.dumps_midi())
        zf.writestr("meta.json", json.dumps(entry.meta, indent=1, default=str))
    return buffer.getvalue()

