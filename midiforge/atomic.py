"""Atomic file writes: a crash mid-write never leaves a half-written file in place.

Every write goes to ``.NAME.XXXX.tmp`` beside the target and is renamed over it at the end.
A process killed outright (SIGKILL, power loss) can still leave such a temporary file behind;
:func:`sweep_stale` removes them when the next run starts in that folder. :func:`create_new`
never replaces anything: concurrent writers into one folder each keep their own file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def _usual_mode(path: str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp makes 0600; written files get the usual permissions


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """A fresh temporary file beside ``target``, removed afterwards unless it was renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    _usual_mode(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


def _finish(tmp: Path) -> None:
    """Make the written data durable and give it the usual permissions (some writers, such as
    safetensors, recreate the file with their own mode)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    _usual_mode(str(tmp))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically."""
    target = Path(target)
    with _temporary(target) as tmp:
        yield tmp
        _finish(tmp)
        os.replace(tmp, target)


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def create_new(candidates: Iterable[str | os.PathLike], write: Callable[[Path], None]) -> Path:
    """Write with ``write(tmp)`` and publish the result under the first of ``candidates`` that does
    not exist yet; returns that name. Publishing is a hard link, which fails instead of replacing
    when another process took the name first, so concurrent runs never clobber each other."""
    names = (Path(n) for n in candidates)
    first = next(names)
    with _temporary(first) as tmp:
        write(tmp)
        _finish(tmp)
        for name in itertools.chain([first], names):
            try:
                os.link(tmp, name)
                return name
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: reserve the name, then rename
                try:
                    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                except FileExistsError:
                    continue
                os.replace(tmp, name)
                return name
    raise FileExistsError(f"no free file name for {first}")


def sweep_stale(folder: str | os.PathLike, min_age_s: float = 0.0, recursive: bool = True) -> list[Path]:
    """Remove temporary files (``.NAME.XXXX.tmp``) that a killed writer left in ``folder``;
    returns what was removed. Call it only where no other process is writing right now, or
    give ``min_age_s`` so fresh files of a live writer are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    found = folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")
    removed = []
    for path in found:
        try:
            if path.is_file() and now - path.stat().st_mtime >= min_age_s:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # another sweeper or the writer itself got there first
            continue
    return removed
