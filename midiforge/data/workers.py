"""Worker processes that cannot hang the run: a worker that dies is noticed, its job is retried
once in a fresh worker and then reported, and the run finishes.

``multiprocessing.Pool`` waits forever for the result of a worker killed by the OOM killer or a
signal, and ``ProcessPoolExecutor`` fails every pending job with ``BrokenProcessPool``. Here each
worker holds one job at a time, so the job a dead worker held is known exactly.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any


def pool_context():
    """fork on Linux: workers start fast and scripts/notebooks need no ``__main__`` guard
    (macOS and Windows keep their default, spawn)."""
    fork = "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")
    return multiprocessing.get_context("fork" if fork else None)


@dataclass(frozen=True)
class WorkerDied:
    """The result of a job whose worker process died (twice) while running it."""

    exitcode: int | None

    @property
    def reason(self) -> str:
        code = self.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"worker process died ({how})"


def _serve(conn: Connection, func: Callable, initializer: Callable | None, initargs: tuple) -> None:
    try:
        if initializer is not None:
            initializer(*initargs)
    except Exception as exc:  # the answer to the first job: every worker would fail the same way
        conn.send((False, RuntimeError(f"worker set-up failed: {type(exc).__name__}: {exc}")))
        return
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send((True, func(job)))
        except Exception as exc:  # the caller re-raises it: a bug, not a bad input file
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class _Worker:
    def __init__(self, ctx, func: Callable, initializer: Callable | None, initargs: tuple) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, func, initializer, initargs), daemon=True)
        self.process.start()
        child.close()
        self.job: int | None = None  # index of the job it holds

    def give(self, index: int, job: Any) -> None:
        self.job = index
        try:
            self.conn.send(job)
        except OSError:  # the worker is already gone (its set-up failed, or it was killed): receive() says
            pass

    def receive(self) -> tuple[bool, Any] | None:
        """The answer to the job it holds, or None while it works (or when it died: then the
        process is joined, so ``is_alive()`` is False)."""
        if not self.conn.poll():
            return None
        try:
            return self.conn.recv()
        except (EOFError, OSError):  # the pipe closed: the process is exiting or gone
            self.process.join()
            return None

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.conn.close()


def run_jobs(
    func: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int,
    initializer: Callable | None = None,
    initargs: tuple = (),
    retries: int = 1,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, func(jobs[index]))`` as jobs finish, in ``workers`` processes.

    A job whose worker dies is retried ``retries`` times in a new worker; after that its result
    is a :class:`WorkerDied`. An exception raised by ``func`` stops the run (re-raised here).
    """
    ctx = pool_context()
    todo = deque(range(len(jobs)))
    tries = [0] * len(jobs)
    crew: list[_Worker] = []
    try:
        while todo or any(w.job is not None for w in crew):
            while todo and len(crew) < min(workers, len(jobs)):
                crew.append(_Worker(ctx, func, initializer, initargs))
            for w in crew:
                if w.job is None and todo:
                    index = todo.popleft()
                    w.give(index, jobs[index])
            busy = [w for w in crew if w.job is not None]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                index = w.job
                answer = w.receive()
                if answer is not None:
                    ok, result = answer
                    w.job = None
                    if not ok:
                        raise result
                    yield index, result
                    continue
                if w.process.is_alive():
                    continue
                crew.remove(w)
                w.conn.close()
                tries[index] += 1
                if tries[index] <= retries:
                    todo.appendleft(index)
                else:
                    yield index, WorkerDied(w.process.exitcode)
    finally:
        for w in crew:
            w.stop()
