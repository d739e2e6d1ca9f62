"""Answers of repeated reads, kept while the database has not changed since.

A read such as GetContactChannel asked again with the same body by the same caller gets the
same answer until something commits: AWS's reads are strongly consistent and so are these.
The cache holds answers for one database state at a time, named by ``Store.change_mark``
(SQLite's ``data_version`` plus this process's own commits). The first call that sees a new
mark empties it. Where no mark can be had (PostgreSQL, an in-memory database) nothing is kept.

Only operations marked ``cached`` in the operation table are kept: reads whose answer depends
on the database, the caller and the request, and on nothing else (no clock). Authentication,
throttling and authorization run on every call before the cache is asked; errors are never
kept. Answers are kept in this process's memory only: at most ``entries`` of them, none larger
than ``MAX_ANSWER`` bytes, and ``MAX_BYTES`` in all. Those sizes count the request that names
an answer (its key holds the body) as well as the answer: a body may be up to 2 MiB (spaces are
valid JSON), and 4096 kept keys of that size would be 8 GiB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

MAX_ANSWER = 64 * 1024
MAX_BYTES = 16 * 1024 * 1024


class ReadCache:
    __slots__ = ("_answers", "_bytes", "_entries", "_lock", "_mark", "_max_bytes", "hits",
                 "misses")

    def __init__(self, entries: int, max_bytes: int = MAX_BYTES) -> None:
        if entries < 1:
            raise ValueError("a read cache keeps at least one answer")
        self._entries = entries
        self._max_bytes = max_bytes
        self._bytes = 0
        # key -> (answer, the bytes it counts for: the answer's and the key's)
        self._answers: OrderedDict[Hashable, tuple[bytes, int]] = OrderedDict()
        self._mark: Hashable = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, mark: Hashable, key: Hashable) -> bytes | None:
        """The answer kept for ``key`` at database state ``mark``, if any."""
        with self._lock:
            if mark != self._mark:
                self._answers.clear()
                self._bytes = 0
                self._mark = mark
                answer = None
            else:
                kept = self._answers.get(key)
                answer = None if kept is None else kept[0]
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, mark: Hashable, key: Hashable, answer: bytes, *, key_size: int = 0) -> None:
        """Keep ``answer``, computed in a transaction begun after ``mark`` was taken;
        ``key_size`` is what the key holds of the request (its body's bytes)."""
        cost = len(answer) + key_size
        if cost > MAX_ANSWER:
            return
        with self._lock:
            if mark != self._mark:
                return  # the database moved on while the answer was made
            replaced = self._answers.pop(key, None)
            if replaced is not None:
                self._bytes -= replaced[1]
            self._answers[key] = (answer, cost)
            self._bytes += cost
            while len(self._answers) > self._entries or self._bytes > self._max_bytes:
                self._bytes -= self._answers.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def size(self) -> int:
        """The bytes of the answers kept, and of the requests that name them."""
        return self._bytes


__all__ = ["MAX_ANSWER", "MAX_BYTES", "ReadCache"]
