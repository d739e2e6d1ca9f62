"""Request throttling: a token bucket per account and operation class.

``INCIDENT_CONTACTS_THROTTLE_RATE`` requests per second refill each bucket, up to
``INCIDENT_CONTACTS_THROTTLE_BURST`` tokens; a rate of 0 turns throttling off
(``spec/decisions.md`` §5). Classes keep a flood of reads from starving writes, and
the two operations that send messages to people have a bucket of their own.

Memory stays bounded: a bucket that has refilled completely is indistinguishable from a new
one, so such buckets are dropped whenever the table has doubled since the last sweep.
"""

from __future__ import annotations

import math
import threading
from typing import Final, Literal

from incident_contacts.clock import Clock
from incident_contacts.errors import ThrottlingException

OperationClass = Literal["read", "write", "send"]

SEND_OPERATIONS: Final = frozenset({"SendActivationCode", "StartEngagement"})
READ_PREFIXES: Final = ("Get", "List", "Describe")
_MIN_SWEEP = 1024


def operation_class(operation: str) -> OperationClass:
    """``send`` for SendActivationCode and StartEngagement, ``read`` for Get*/List*/Describe*,
    ``write`` for everything else."""
    if operation in SEND_OPERATIONS:
        return "send"
    if operation.startswith(READ_PREFIXES):
        return "read"
    return "write"


class Throttle:
    """Token buckets keyed by ``(account, operation class)``; thread-safe."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError("throttle rate must be a finite number >= 0")
        if rate > 0 and burst < 1:
            raise ValueError("throttle burst must be at least 1 when the rate is not 0")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, OperationClass], tuple[float, float]] = {}
        self._sweep_at = _MIN_SWEEP
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, account: str, operation: str) -> None:
        """Take a token or raise :class:`ThrottlingException` with a ``RetryAfterSeconds`` hint."""
        if not self.enabled:
            return
        key = (account, operation_class(operation))
        now = self._clock.now()
        with self._lock:
            tokens = self._refilled(key, now)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                if len(self._buckets) >= self._sweep_at:
                    self._sweep(now)
                return
            self._buckets[key] = (tokens, now)
        wait = math.ceil((1 - tokens) / self.rate)
        raise ThrottlingException("Rate exceeded", retry_after_seconds=max(1, wait))

    def _refilled(self, key: tuple[str, OperationClass], now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        # A clock that stepped back refills nothing, rather than granting extra tokens later.
        return min(float(self.burst), tokens + max(0.0, now - last) * self.rate)

    def _sweep(self, now: float) -> None:
        for key in list(self._buckets):
            if self._refilled(key, now) >= self.burst:
                del self._buckets[key]
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._buckets))

    def __len__(self) -> int:
        """Buckets currently held (for tests of the memory bound)."""
        return len(self._buckets)


__all__ = ["READ_PREFIXES", "SEND_OPERATIONS", "OperationClass", "Throttle", "operation_class"]
