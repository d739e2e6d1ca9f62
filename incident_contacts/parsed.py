"""Values parsed from stored texts (plans, recurrences), kept by a digest of the text.

The key is the text itself, never a row id, so a changed row is parsed afresh and nothing
stale is served; kept values must be immutable, as callers share them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ParsedTexts(Generic[T]):
    """``parse`` of each text, kept for the most recently used texts while the weights of
    those kept add up to at most ``budget`` (the newest is always kept). Every look at the
    table holds its lock; parsing, the slow part, does not."""

    def __init__(self, parse: Callable[[bytes], T], budget: int,
                 weight: Callable[[T], int] = lambda _value: 1) -> None:
        self._parse = parse
        self._budget = budget
        self._weight = weight
        self._kept: OrderedDict[bytes, T] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, text: str | bytes) -> T:
        data = text.encode() if isinstance(text, str) else bytes(text)
        digest = hashlib.blake2b(data, digest_size=32).digest()
        with self._lock:
            kept = self._kept.get(digest)
            if kept is not None:
                self._kept.move_to_end(digest)
                return kept
        parsed = self._parse(data)
        with self._lock:
            if digest not in self._kept:
                self._kept[digest] = parsed
                self._total += self._weight(parsed)
            while len(self._kept) > 1 and self._total > self._budget:
                self._total -= self._weight(self._kept.popitem(last=False)[1])
        return parsed


__all__ = ["ParsedTexts"]
