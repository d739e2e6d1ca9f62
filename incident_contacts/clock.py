"""Time, injected. Everything that reads the time takes a :class:`Clock`.

The server uses :class:`SystemClock`, optionally shifted forward by the inspection endpoint;
tests and the in-process mock use a clock they move themselves. Time is epoch seconds as a
float throughout: that is what the wire carries and what the store keeps. The server's clock
reads to the millisecond (:func:`to_millisecond`), the precision AWS answers in, so a time
read back from an answer (a ``TimeRangeValue`` bound, say) is exactly the time kept; a manual
clock started without a time starts on a whole millisecond, and moves by exactly what it is
told.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


def to_millisecond(seconds: float) -> float:
    """``seconds`` to the nearest millisecond: the float that prints with three decimals at
    most. Applied twice it gives the same float, so a time read back from an answer is the
    very time kept."""
    return math.floor(seconds * 1000 + 0.5) / 1000


MAX_OFFSET = 100 * 365.25 * 86400
"""How far ahead of the wall clock a server's clock may be moved: far enough for any test, and
short of the dates that signatures and timestamps can no longer be written for."""


class SystemClock:
    """Wall-clock time plus an offset that only grows (``advance``), for tests of a server."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return to_millisecond(time.time() + self._offset)

    def advance(self, seconds: float) -> float:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward, by a finite number of seconds")
        with self._lock:
            if self._offset + seconds > MAX_OFFSET:
                raise ValueError("the clock moves at most a hundred years ahead")
            self._offset += seconds
        return self.now()


class WallClock:
    """The real time, for what must not follow a moved test clock: a request's signature is
    dated by the client's clock, so SigV4's fifteen-minute window is measured against this."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that stands still until it is moved."""

    def __init__(self, start: float | None = None) -> None:
        self._now = to_millisecond(time.time()) if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward, by a finite number of seconds")
        with self._lock:
            self._now += seconds
        return self._now


__all__ = ["Clock", "ManualClock", "SystemClock", "WallClock", "to_millisecond"]
