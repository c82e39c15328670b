"""One queue for every model run: two clicks never run two models at once.

A single worker thread takes jobs in order; the page polls a job for its place in the queue, its
progress and, at the end, the ids of its results or its error message. A failing job records its
one-line error and the worker goes on with the next one.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from midiforge.errors import MidiforgeError

MAX_KEPT = 200  # finished jobs remembered for polling


@dataclass
class Job:
    id: str
    kind: str  # generate, regenerate, vary
    work: Callable[[Job], list[str]] = field(repr=False)
    status: str = "queued"  # queued, running, done, error
    message: str = "waiting for the model"
    progress: float = 0.0  # 0..1 when known
    results: list[str] = field(default_factory=list)
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def report(self, progress: float, message: str) -> None:
        """Called by the work function while it runs."""
        self.progress, self.message = max(0.0, min(1.0, progress)), message


class JobQueue:
    """FIFO jobs run by one worker thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._worker = threading.Thread(target=self._run, name="midiforge-studio-model", daemon=True)
        self._worker.start()

    def submit(self, kind: str, work: Callable[[Job], list[str]]) -> Job:
        job = Job(id=f"job{next(self._ids)}", kind=kind, work=work)
        with self._lock:
            self._jobs[job.id] = job
            self._order.append(job.id)
            for old in self._order[:-MAX_KEPT]:
                if self._jobs[old].finished is not None:
                    self._order.remove(old)
                    del self._jobs[old]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            from midiforge.studio.history import NotFound

            raise NotFound(f"no job '{job_id}'")
        return job

    def ahead_of(self, job: Job) -> int:
        """How many jobs run before ``job`` (the running one included)."""
        with self._lock:
            return sum(1 for j in self._jobs.values()
                       if j.status in ("queued", "running") and j.submitted <= job.submitted and j is not job)

    def snapshot(self, job: Job) -> dict[str, Any]:
        out = {k: getattr(job, k) for k in ("id", "kind", "status", "message", "progress", "results", "error",
                                             "started", "finished")}
        if job.status == "queued":
            ahead = self.ahead_of(job)
            out["message"] = f"queued: {ahead} job{'s' * (ahead != 1)} ahead" if ahead else "starting"
        elif job.status == "running" and job.started:
            out["elapsed"] = round(time.time() - job.started, 1)
        return out

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            job.status, job.started, job.message = "running", time.time(), "the model is writing"
            try:
                job.results = job.work(job)
                job.status, job.progress, job.message = "done", 1.0, "done"
            except MidiforgeError as exc:
                job.status, job.error = "error", str(exc)
            except Exception as exc:  # the page gets a line; the server keeps serving
                traceback.print_exc()
                job.status, job.error = "error", f"{type(exc).__name__}: {exc}"
            job.finished = time.time()
