"""Download MIDI datasets: resumable HTTP transfer, checksum, safe MIDI-only extraction, cache.

``fetch_dataset(url)`` is what ``midiforge download URL`` and the downloadable corpus plugins call.
An archive (zip or tar, any compression) is fetched into ``paths.cache_dir("downloads")/<name>``
through a ``.part`` file that later runs continue with an HTTP Range request, checked against a
known sha256, and only its MIDI files are extracted. Archives from the internet are untrusted, so
extraction refuses the whole archive on path traversal, absolute paths, links or device
members, too many members or sizes that look like a zip bomb, and never writes outside the
target folder. Only the standard library is used for networking (urllib).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from midiforge import atomic, paths
from midiforge.errors import MidiforgeError

MIDI_PATTERN = r"\.(mid|midi)$"
COMPLETE_MARKER = "complete.json"
_CHUNK = 1 << 16
_USER_AGENT = "midiforge-downloader (+https://github.com/midiforge)"

ProgressHook = Callable[[int, int | None], None]  # (bytes so far, total or None)


@dataclass(frozen=True)
class ExtractLimits:
    """Limits that stop hostile archives (zip bombs, member floods) before they fill the disk."""

    max_members: int = 500_000
    max_member_bytes: int = 64 * 1024**2  # a MIDI file is rarely above 1 MB
    max_total_bytes: int = 8 * 1024**3
    max_ratio: float = 200.0  # uncompressed / compressed size of one zip member


# ---------------------------------------------------------------- download


def _request(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _total_size(response: http.client.HTTPResponse, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if response.status == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) + (offset if response.status == 206 else 0) if length and length.isdigit() else None


def _transfer(url: str, part: Path, timeout: float, on_progress: ProgressHook | None) -> None:
    """One attempt: continue ``part`` from its current size; raises on a broken connection."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _request(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to fetch: the part file is already complete
            return
        raise
    with response:
        if response.status == 200 and offset:  # the server ignored Range: start again
            offset = 0
        total = _total_size(response, offset)
        with open(part, "ab" if offset else "wb") as out:
            done = offset
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total)
    if total is not None and done < total:
        raise http.client.IncompleteRead(b"", total - done)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise MidiforgeError(
            f"cannot download '{url}': only http(s) URLs or local archive files are supported"
        )


def download_file(
    url: str,
    dest: Path,
    sha256: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    on_progress: ProgressHook | None = None,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming after dropped connections
    (and in later runs), then verify ``sha256`` when given. Returns ``dest``."""
    _check_url(url)
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.exists() and (expected is None or file_sha256(dest) == expected):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout, on_progress)
            break
        except urllib.error.HTTPError as exc:
            raise MidiforgeError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            OSError,
        ) as exc:
            if attempt == retries:
                kept = part.stat().st_size if part.exists() else 0
                resume = f"; {kept} bytes kept in {part.name}, run again to resume" if kept else ""
                raise MidiforgeError(f"download of {url} failed after {retries + 1} attempts ({exc}){resume}") from None
            time.sleep(min(0.2 * 2**attempt, 5.0))
    if expected is not None:
        actual = file_sha256(part)
        if actual != expected:
            part.unlink()
            raise MidiforgeError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                "the download was deleted (run again, or check the URL)"
            )
    os.replace(part, dest)
    return dest


# ---------------------------------------------------------------- safe extraction


@dataclass(frozen=True)
class _Member:
    name: str  # normalised relative posix path
    size: int  # declared uncompressed size
    open: Callable[[], IO[bytes]]


def _refuse(archive: Path, why: str) -> MidiforgeError:
    return MidiforgeError(f"refusing archive {archive.name}: {why}")


def _safe_name(archive: Path, raw: str) -> str | None:
    """The member's relative path, ``None`` for a directory entry; refuses anything that could
    land outside the target folder."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _refuse(archive, f"member '{raw}' has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, f"member '{raw}' would be written outside the target folder (path traversal)")
    if any("\x00" in p for p in parts):
        raise _refuse(archive, f"member '{raw}' has a NUL byte in its name")
    return "/".join(parts) or None


def _zip_members(archive: Path, zf: zipfile.ZipFile, limits: ExtractLimits) -> Iterator[_Member]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _refuse(archive, f"{len(infos)} members, over the limit of {limits.max_members}")
    for info in infos:
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix file type
        if kind == stat.S_IFLNK:
            raise _refuse(archive, f"member '{info.filename}' is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, f"member '{info.filename}' is not a regular file")
        name = _safe_name(archive, info.filename)
        if name is None or info.is_dir():
            continue
        if info.file_size > limits.max_ratio * max(info.compress_size, 1) and info.file_size > 1024**2:
            raise _refuse(
                archive,
                f"member '{info.filename}' expands {info.file_size / max(info.compress_size, 1):.0f}x "
                "(zip bomb?)",
            )
        yield _Member(name, info.file_size, lambda info=info: zf.open(info))


def _tar_members(archive: Path, tf: tarfile.TarFile, limits: ExtractLimits) -> Iterator[_Member]:
    count = 0
    for info in tf:  # streamed: a flood of members is caught without listing them all first
        count += 1
        if count > limits.max_members:
            raise _refuse(archive, f"more than {limits.max_members} members")
        if info.issym() or info.islnk():
            raise _refuse(archive, f"member '{info.name}' is a {'symbolic' if info.issym() else 'hard'} link")
        if not (info.isfile() or info.isdir()):
            raise _refuse(archive, f"member '{info.name}' is a device, FIFO or other special file")
        name = _safe_name(archive, info.name)
        if name is None or info.isdir():
            continue

        def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
            handle = tf.extractfile(info)
            assert handle is not None  # regular file
            return handle

        yield _Member(name, info.size, opener)


def _copy_limited(archive: Path, member: _Member, dest: Path, budget: int, limits: ExtractLimits) -> int:
    """Stream one member to ``dest``, counting real bytes (declared sizes can lie)."""
    written = 0
    with member.open() as src, open(dest, "wb") as out:
        while block := src.read(_CHUNK):
            written += len(block)
            if written > limits.max_member_bytes:
                raise _refuse(
                    archive, f"member '{member.name}' is larger than {limits.max_member_bytes} bytes"
                )
            if written > budget:
                raise _refuse(
                    archive, f"MIDI files add up to more than {limits.max_total_bytes} bytes (zip bomb?)"
                )
            out.write(block)
    return written


def extract_midi(
    archive: Path,
    target: Path,
    include: str = MIDI_PATTERN,
    limits: ExtractLimits = ExtractLimits(),
    on_progress: ProgressHook | None = None,
) -> list[Path]:
    """Extract the members of ``archive`` whose relative path matches ``include`` (a regex,
    case-insensitive; default: ``.mid``/``.midi``) into ``target``; returns their paths.

    The whole archive is checked before anything is written, then files go to a hidden
    temporary folder that replaces ``target`` only when extraction finished, so an interrupted or
    refused extraction never leaves a half-filled cache behind.
    """
    archive, target = Path(archive), Path(target)
    wanted = re.compile(include, re.IGNORECASE)
    staging = target.with_name(f".{target.name}.extracting")
    if zipfile.is_zipfile(archive):
        handle: zipfile.ZipFile | tarfile.TarFile = zipfile.ZipFile(archive)
        members_of: Callable[[], Iterator[_Member]] = lambda: _zip_members(archive, handle, limits)  # noqa: E731
    elif tarfile.is_tarfile(archive):
        handle = tarfile.open(archive, mode="r:*")
        members_of = lambda: _tar_members(archive, handle, limits)  # noqa: E731
    else:
        raise MidiforgeError(f"{archive.name} is not a zip or tar archive")
    with handle:
        try:
            selected = [m for m in members_of() if wanted.search(m.name)]
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise MidiforgeError(f"{archive.name} is a corrupt archive: {exc}") from None
        for member in selected:
            if member.size > limits.max_member_bytes:
                raise _refuse(archive, f"member '{member.name}' declares {member.size} bytes (zip bomb?)")
        declared = sum(m.size for m in selected)
        if declared > limits.max_total_bytes:
            raise _refuse(archive, f"MIDI files would take {declared} bytes, over {limits.max_total_bytes}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        root = staging.resolve()
        try:
            written = 0
            for index, member in enumerate(selected):
                dest = (staging / member.name).resolve()
                if root not in dest.parents:  # defence in depth: names were checked above
                    raise _refuse(archive, f"member '{member.name}' resolves outside the target folder")
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    written += _copy_limited(archive, member, dest, limits.max_total_bytes - written, limits)
                except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
                    raise MidiforgeError(f"{archive.name}: cannot extract '{member.name}': {exc}") from None
                if on_progress:
                    on_progress(index + 1, len(selected))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return sorted(target / m.name for m in selected)


# ---------------------------------------------------------------- cached datasets


def dataset_name(url: str) -> str:
    """A cache folder name for ``url``: its file name without archive suffixes, plus a short
    hash of the URL so two ``master.zip`` files never collide."""
    base = PurePosixPath(urllib.parse.urlparse(url).path).name or "download"
    base = re.sub(r"(\.tar)?\.(zip|tgz|gz|bz2|xz|tar)$", "", base, flags=re.IGNORECASE)
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "download"
    return f"{base}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"


def cached_files(folder: Path) -> list[Path] | None:
    """The MIDI files of a completed download folder, or ``None`` when it is not complete."""
    marker = folder / COMPLETE_MARKER
    if not marker.exists():
        return None
    meta = json.loads(marker.read_text())
    return [folder / "midi" / rel for rel in meta["files"]]


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from: URL (or local archive path), optional sha256, which members."""

    url: str
    sha256: str | None = None
    include: str = MIDI_PATTERN


def fetch_dataset(
    source: DatasetSource,
    name: str | None = None,
    cache_root: Path | None = None,
    force: bool = False,
    keep_archive: bool = False,
    limits: ExtractLimits = ExtractLimits(),
    progress: bool = True,
) -> list[Path]:
    """Download (once) and extract a MIDI dataset; returns the extracted MIDI paths.

    Files live in ``cache_root/name/midi`` (default ``paths.cache_dir("downloads")``); a later
    call returns them without touching the network. ``force`` downloads again.
    """
    folder = Path(cache_root or paths.cache_dir("downloads")) / (name or dataset_name(source.url))
    if not force and (files := cached_files(folder)) is not None:
        return files
    local = Path(source.url).expanduser()
    is_local = "://" not in source.url
    if is_local and not local.is_file():
        raise MidiforgeError(f"archive not found: {source.url}")
    archive_name = PurePosixPath(urllib.parse.urlparse(source.url).path).name or "archive"
    archive = local if is_local else folder / archive_name
    if force and not is_local:
        for stale in (archive, archive.with_name(archive.name + ".part")):
            stale.unlink(missing_ok=True)
    with _Progress(enabled=progress, label=name or archive_name) as bar:
        if is_local:
            if source.sha256 and file_sha256(local) != source.sha256.lower():
                raise MidiforgeError(f"checksum mismatch for {local}: expected sha256 {source.sha256}")
        else:
            download_file(source.url, archive, source.sha256, on_progress=bar.bytes)
        files = extract_midi(archive, folder / "midi", source.include, limits, on_progress=bar.members)
    if not files:
        raise MidiforgeError(f"{archive.name} holds no MIDI files matching '{source.include}'")
    meta = {
        "url": source.url,
        "sha256": source.sha256,
        "files": [str(p.relative_to(folder / "midi").as_posix()) for p in files],
    }
    atomic.write_text(folder / COMPLETE_MARKER, json.dumps(meta, indent=1))
    if not is_local and not keep_archive:
        archive.unlink(missing_ok=True)
    return files


class _Progress:
    """A rich progress display for bytes downloaded and files extracted (quiet when disabled)."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label = enabled, label
        self._progress = None
        self._task = None
        self._phase = ""

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            from midiforge.terminal import err_console

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._progress.start()
        return self

    def _update(self, phase: str, done: int, total: int | None) -> None:
        if self._progress is None:
            return
        if self._task is None or self._phase != phase:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._phase = phase
            self._task = self._progress.add_task(phase, total=total)
        self._progress.update(self._task, completed=done, total=total)

    def bytes(self, done: int, total: int | None) -> None:
        self._update(f"downloading {self.label}", done, total)

    def members(self, done: int, total: int | None) -> None:
        self._update(f"extracting {total} MIDI files", done, total)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
