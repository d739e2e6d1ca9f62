"""The engine in the background: a thread that runs due steps as they fall due.

It runs a round at once when woken (``runtime.wake_engine``: StartEngagement, and the
inspection clock moving forward, call it after commit) and otherwise every
``poll_interval`` seconds, which is how it notices timers falling due with the passing of
time and work other processes scheduled. Rounds follow each other without pause while
timers are due, so a burst of engagements is worked off at the database's pace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from incident_contacts.engine import runner
from incident_contacts.engine.background import BackgroundLoop
from incident_contacts.engine.presence import new_worker_id

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime


class EngineWorker(BackgroundLoop):
    """The engagement engine's background loop."""

    thread_name = "engagement-engine"
    wake_topic = "engine"

    def __init__(self, runtime: Runtime, *, worker_id: str | None = None,
                 poll_interval: float = 0.5, batch: int = runner.DEFAULT_BATCH,
                 gather: float = 0.01) -> None:
        super().__init__(runtime, poll_interval=poll_interval, batch=batch, gather=gather)
        self.worker_id = worker_id or new_worker_id()
        runner.install()

    def _round(self) -> int:
        return runner.run_due(self.runtime, self.worker_id, limit=self.batch)


__all__ = ["EngineWorker"]
