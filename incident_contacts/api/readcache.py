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
than ``MAX_ANSWER`` bytes, and ``MAX_BYTES`` in all.
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
        self._answers: OrderedDict[Hashable, bytes] = OrderedDict()
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
                answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, mark: Hashable, key: Hashable, answer: bytes) -> None:
        """Keep ``answer``, computed in a transaction begun after ``mark`` was taken."""
        if len(answer) > MAX_ANSWER:
            return
        with self._lock:
            if mark != self._mark:
                return  # the database moved on while the answer was made
            replaced = self._answers.pop(key, None)
            if replaced is not None:
                self._bytes -= len(replaced)
            self._answers[key] = answer
            self._bytes += len(answer)
            while len(self._answers) > self._entries or self._bytes > self._max_bytes:
                self._bytes -= len(self._answers.popitem(last=False)[1])

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def size(self) -> int:
        """The bytes of the answers kept."""
        return self._bytes


__all__ = ["MAX_ANSWER", "MAX_BYTES", "ReadCache"]
