"""Housekeeping: records that have served their purpose are deleted, so that a server that
runs for months keeps tables the size of what is still in use.

* Messages that reached their end go after the retention period. An outbox row holds personal
  data (the address, the words, the code, sealed) and is needed only until it is delivered,
  and for a while after, to be looked up. ``SENT`` and ``FAILED`` messages older than
  ``outbox_retention_days`` are deleted, with their attempt records; a message still
  ``PENDING`` is kept whatever its age. The page records of engagements (their receipts name
  the message id) stay.
* Idempotency records go once their window (24 hours) has passed: a retry after that runs
  again anyway (``api.dispatch``). boto3 gives every CreateContact, CreateContactChannel and
  StartEngagement a token, so without this the table grew by one row, holding the whole
  answer, for each such call ever made.
* Console sessions go once expired (a sign-in deletes expired ones too, but a console nobody
  signs in to again would keep them).

Outbox and idempotency rows are visited in id order, which is the order they were written in,
and each round stops at the first one too young to go, so a round costs what it deletes, not
the table's size. The in-process mock never deletes: a test reads every message it caused.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from incident_contacts.api.dispatch import IDEMPOTENCY_WINDOW
from incident_contacts.engine.background import BackgroundLoop
from incident_contacts.store.schema.console import console_sessions
from incident_contacts.store.schema.core import idempotency
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
    deleted = _prune_in_order(runtime, outbox, runtime.clock.now() - days * 86400, batch,
                              status=outbox.c.status)
    if deleted:
        log.info("deleted %d delivered or failed messages older than %g days", deleted, days)
    return deleted


def prune_idempotency(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Delete the idempotency records past their window; how many were deleted."""
    deleted = _prune_in_order(runtime, idempotency,
                              runtime.clock.now() - IDEMPOTENCY_WINDOW, batch)
    if deleted:
        log.info("deleted %d idempotency records older than %g hours", deleted,
                 IDEMPOTENCY_WINDOW / 3600)
    return deleted


def prune_console_sessions(runtime: Runtime) -> int:
    """Delete the console sessions that have expired (an index range); how many."""
    with runtime.store.transaction() as conn:
        result = conn.execute(console_sessions.delete().where(
            console_sessions.c.expires_at <= runtime.clock.now()))
    return int(result.rowcount or 0)


def _prune_in_order(runtime: Runtime, table: sa.Table, horizon: float, batch: int, *,
                    status: sa.Column[str] | None = None) -> int:
    """Delete the rows of ``table`` created before ``horizon`` (and, with ``status``, in a
    final state), in id order, a batch a transaction, up to the first one too young."""
    columns = [table.c.id, table.c.created_at] + ([status] if status is not None else [])
    deleted, after = 0, 0
    while True:
        with runtime.store.transaction() as conn:
            rows = conn.execute(
                sa.select(*columns).where(table.c.id > after).order_by(table.c.id)
                .limit(batch)).all()
            old = [row for row in rows if row.created_at < horizon]
            doomed = [row.id for row in old if status is None or row.status in _FINAL]
            if doomed:
                conn.execute(table.delete().where(table.c.id.in_(doomed)))
        deleted += len(doomed)
        if len(old) < len(rows) or len(rows) < batch:
            return deleted  # reached the rows young enough to keep, or the end
        after = rows[-1].id


def keep_house(runtime: Runtime) -> None:
    """One round of every kind of housekeeping; one failing does not keep the others out."""
    for prune in (prune_outbox, prune_idempotency, prune_console_sessions):
        try:
            prune(runtime)
        except Exception:
            log.exception("housekeeping: %s failed; trying again next round", prune.__name__)


class Housekeeper(BackgroundLoop):
    """Runs :func:`keep_house` at start and every ``interval`` seconds, on a thread."""

    thread_name = "housekeeping"
    wake_topic = None

    def __init__(self, runtime: Runtime, *, interval: float = INTERVAL) -> None:
        super().__init__(runtime, poll_interval=interval, batch=1)

    def _round(self) -> int:
        keep_house(self.runtime)
        return 0      # a round deletes all it may: no next round until the next interval


__all__ = ["BATCH", "INTERVAL", "Housekeeper", "keep_house", "prune_console_sessions",
           "prune_idempotency", "prune_outbox"]
