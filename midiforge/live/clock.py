"""Clocks the player sleeps on: the real one, and a fake one that lets tests check timing instantly."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Monotonic wall clock; sleeps in short slices and spins the last millisecond for precision."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0.0015:
            time.sleep(left - 0.001)
        while time.perf_counter() < deadline:
            pass


class FakeClock:
    """A clock for tests: ``sleep`` advances time instantly and exactly."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)
