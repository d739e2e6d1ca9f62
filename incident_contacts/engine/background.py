"""A background thread that works off due work in rounds.

It runs a round at once when woken (``runtime.wake_delivery`` or ``runtime.wake_engine``,
called after a transaction that queued its kind of work commits, and when the inspection clock
moves) and otherwise every ``poll_interval`` seconds, which is how it notices work falling due
with the passing of time and work that other processes queued. Rounds follow each other without
pause while each one fills its batch, so a burst is worked off at the database's pace.
"""

from __future__ import annotations

import abc
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)


class BackgroundLoop(abc.ABC):
    """``start()`` / ``stop()``, as the server's background items are; subclasses say what a
    round is (``_round``, returning how many items it handled)."""

    thread_name = "background"
    # Which of Runtime's wake-ups start a round (WAKE_TOPICS); None: only the start and the
    # poll interval do.
    wake_topic: str | None = "delivery"

    def __init__(self, runtime: Runtime, *, poll_interval: float, batch: int,
                 gather: float = 0.0) -> None:
        self.runtime = runtime
        self.poll_interval = poll_interval
        self.batch = batch
        # When busy (the last round took more than one item), wait this long after a wake-up,
        # so that calls committing right behind the one that woke us are taken in the same
        # round: fewer write transactions, and fewer turns of the database's write lock taken
        # from the API. One item at a time goes at once.
        self.gather = gather
        self._busy = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = False
        self.expecting_work = True

    def start(self) -> None:
        if self._thread is not None:
            return
        if not self._listening and self.wake_topic is not None:
            self.runtime.on_wake(self.wake, topics=(self.wake_topic,))
            self._listening = True
        self._stopping.clear()
        self._wake.set()  # the first round resumes whatever a stopped process left due
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the round in hand, then stop."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None

    @abc.abstractmethod
    def _round(self) -> int:
        """Handle what is due now; how many items that was (a full batch means: go on)."""

    def _run(self) -> None:
        while not self._stopping.is_set():
            woken = self._wake.wait(self.poll_interval)
            if woken and self._busy and self.gather > 0:
                self._stopping.wait(self.gather)
            self._wake.clear()
            # Work is most likely waiting after a wake-up or a full batch; a poll often finds
            # none, and a round may look for it cheaply first (see ``_round``).
            self.expecting_work = woken
            while not self._stopping.is_set():
                try:
                    count = self._round()
                    self.expecting_work = True
                    self._busy = count > 1
                except Exception:
                    log.exception("%s round failed; trying again in %.1fs", self.thread_name,
                                  self.poll_interval)
                    break
                if count < self.batch:
                    break


__all__ = ["BackgroundLoop"]
