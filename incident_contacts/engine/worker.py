"""The engine in the background: a thread that runs due steps as they fall due.

It runs a round at once when woken (``runtime.wake_delivery``: StartEngagement, and the
inspection clock moving forward, call it after commit) and otherwise every
``poll_interval`` seconds, which is how it notices timers falling due with the passing of
time and work other processes scheduled. Rounds follow each other without pause while
timers are due, so a burst of engagements is worked off at the database's pace.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from incident_contacts.engine import runner
from incident_contacts.engine.delivery import new_worker_id

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)


class EngineWorker:
    """``start()`` / ``stop()``, as the server's background items are."""

    def __init__(self, runtime: Runtime, *, worker_id: str | None = None,
                 poll_interval: float = 0.5, batch: int = runner.DEFAULT_BATCH) -> None:
        self.runtime = runtime
        self.worker_id = worker_id or new_worker_id()
        self.poll_interval = poll_interval
        self.batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = False
        runner.install()

    def start(self) -> None:
        if self._thread is not None:
            return
        if not self._listening:
            self.runtime.on_wake(self.wake)
            self._listening = True
        self._stopping.clear()
        self._wake.set()  # the first round resumes whatever a stopped process left due
        self._thread = threading.Thread(target=self._run, name="engagement-engine",
                                        daemon=True)
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

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            while not self._stopping.is_set():
                try:
                    count = runner.run_due(self.runtime, self.worker_id, limit=self.batch)
                except Exception:
                    log.exception("engine round failed; trying again in %.1fs",
                                  self.poll_interval)
                    break
                if count < self.batch:
                    break


__all__ = ["EngineWorker"]
