"""Time, injected. Everything that reads the time takes a :class:`Clock`.

The server uses :class:`SystemClock`, optionally shifted forward by the inspection endpoint;
tests and the in-process mock use a clock they move themselves. Time is epoch seconds as a
float throughout: that is what the wire carries and what the store keeps.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    """Wall-clock time plus an offset that only grows (``advance``), for tests of a server."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()


class ManualClock:
    """A clock that stands still until it is moved."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._now += seconds
        return self._now


__all__ = ["Clock", "ManualClock", "SystemClock"]
