"""Housekeeping: messages that reached their end are deleted after the retention period.

An outbox row holds personal data (the address, the words, the code, sealed) and is needed
only until it is delivered, and for a while after, to be looked up. ``SENT`` and ``FAILED``
messages older than ``outbox_retention_days`` are deleted, with their attempt records; a
message still ``PENDING`` is kept whatever its age. The page records of engagements (their
receipts name the message id) stay.

Rows are visited in id order, which is the order they were written in, and each round stops
at the first one too young to go, so a round costs what it deletes, not the outbox's size.
The in-process mock never deletes: a test reads every message it caused.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from incident_contacts.engine.background import BackgroundLoop
from incident_contacts.store.schema.delivery import outbox

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

INTERVAL = 600.0
"""Seconds between rounds (and a round at start)."""

BATCH = 1000
"""Rows looked at, and deleted, in one transaction."""

_FINAL = ("SENT", "FAILED")


def prune_outbox(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Delete the final messages older than the retention period; how many were deleted."""
    days = runtime.settings.outbox_retention_days
    if days <= 0:
        return 0
    horizon = runtime.clock.now() - days * 86400
    deleted, after = 0, 0
    while True:
        with runtime.store.transaction() as conn:
            rows = conn.execute(
                sa.select(outbox.c.id, outbox.c.created_at, outbox.c.status)
                .where(outbox.c.id > after).order_by(outbox.c.id).limit(batch)).all()
            old = [row for row in rows if row.created_at < horizon]
            doomed = [row.id for row in old if row.status in _FINAL]
            if doomed:
                conn.execute(outbox.delete().where(outbox.c.id.in_(doomed)))
        deleted += len(doomed)
        if len(old) < len(rows) or len(rows) < batch:
            break  # reached the messages young enough to keep, or the end
        after = rows[-1].id
    if deleted:
        log.info("deleted %d delivered or failed messages older than %g days", deleted, days)
    return deleted


class Housekeeper(BackgroundLoop):
    """Runs :func:`prune_outbox` at start and every ``interval`` seconds, on a thread."""

    thread_name = "housekeeping"
    wake_topic = None

    def __init__(self, runtime: Runtime, *, interval: float = INTERVAL) -> None:
        super().__init__(runtime, poll_interval=interval, batch=1)

    def _round(self) -> int:
        prune_outbox(self.runtime)
        return 0      # a round deletes all it may: no next round until the next interval


__all__ = ["BATCH", "INTERVAL", "Housekeeper", "prune_outbox"]
