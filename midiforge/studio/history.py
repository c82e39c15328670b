"""The studio's history: every result is a folder on disk, so it survives a restart.

``<root>/results/<id>/song.mid`` is the music and ``meta.json`` says how it was made (settings,
key, chords, the result it was edited from and which bars changed). Ids are generated here and
checked against :data:`ID_RE` wherever they come back from a request, and every file path is
resolved and checked to lie inside ``<root>``, so no request can reach another file.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midiforge import atomic
from midiforge.errors import MidiforgeError

ID_RE = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9]{3}$")
MIDI_NAME = "song.mid"
META_NAME = "meta.json"


class NotFound(MidiforgeError):
    """No such result (HTTP 404)."""


class Outside(MidiforgeError):
    """A path that leaves the studio folder (HTTP 403)."""


@dataclass
class Entry:
    id: str
    folder: Path
    meta: dict[str, Any]

    @property
    def midi(self) -> Path:
        return self.folder / MIDI_NAME

    def summary(self) -> dict[str, Any]:
        keep = ("title", "kind", "created", "parent", "bars_changed", "track", "key", "tempo", "bars", "style")
        return {"id": self.id, **{k: self.meta.get(k) for k in keep if k in self.meta}}


class History:
    """Results on disk under ``root`` (the studio's own folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.results = self.root / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last = 0

    def _new_id(self) -> str:
        with self._lock:  # millisecond ids, unique and sortable by time even within one batch
            now = max(int(time.time() * 1000), self._last + 1)
            self._last = now
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now / 1000))
        return f"{stamp}-{now % 1000:03d}"

    def add(self, score: Any, meta: dict[str, Any]) -> Entry:
        """Write ``score`` (a ``symusic.Score``) and ``meta`` as a new result; never overwrites one."""
        rid = self._new_id()
        folder = self.results / rid
        while folder.exists():  # another studio process on the same folder got this millisecond
            rid = self._new_id()
            folder = self.results / rid
        folder.mkdir(parents=True)
        meta = {**meta, "id": rid, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        with atomic.atomic_path(folder / MIDI_NAME) as tmp:
            score.dump_midi(str(tmp))
        atomic.write_text(folder / META_NAME, json.dumps(meta, indent=1, default=str))  # last: marks it complete
        return Entry(rid, folder, meta)

    def get(self, rid: str) -> Entry:
        folder = self.folder(rid)
        try:
            meta = json.loads((folder / META_NAME).read_text())
        except (OSError, ValueError):
            raise NotFound(f"no result '{rid}' in the studio history") from None
        return Entry(rid, folder, meta)

    def folder(self, rid: str) -> Path:
        """The folder of result ``rid``; refuses anything that is not one of our ids."""
        if not isinstance(rid, str) or not ID_RE.match(rid):
            raise MidiforgeError(f"bad result id '{rid}'")
        return self.inside(self.results / rid)

    def inside(self, path: Path) -> Path:
        """``path`` resolved, if it lies in the studio folder (no traversal, no symlinks out)."""
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            raise Outside("that path is outside the studio folder")
        return resolved

    def list(self) -> list[Entry]:
        """Every complete result, newest first."""
        entries = []
        for folder in sorted(self.results.iterdir(), reverse=True):
            if ID_RE.match(folder.name) and (folder / META_NAME).is_file():
                try:
                    entries.append(self.get(folder.name))
                except MidiforgeError:
                    continue  # unreadable metadata: skip it rather than break the page
        return entries
