"""The runner: takes the engine's due timers and carries out their steps, exactly once.

One round is one transaction: pick up to ``limit`` due timers with row locks
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes share the work without
waiting on each other; on SQLite the transaction holds the one write lock), lock each
timer's engagement, run its step in a savepoint, and delete the timer with the step's
writes. A process killed at any point loses its transaction, and with it the locks: the
timers are due again at once for whoever comes next, and nothing of the step remains, so no
page is lost and none is written twice. A step that raises is undone alone and tried again
later with a backoff.

:func:`record_delivery` is the delivery worker's hook (``engine.delivery.on_delivered``):
in the transaction that records a page message's outcome it adds the SENT or ERROR receipt
and, for a failure, the timer of the page's retry. A page cancelled while a worker held its
message (acknowledged, or its engagement stopped: ``service.pages.cancel_pending``) and whose
attempt then failed gets no ERROR receipt: it was withdrawn, not lost to a provider.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.engine import delivery, planner, steps, timers
from incident_contacts.errors import DataEncryptionException
from incident_contacts.service import arns
from incident_contacts.service.engagements import locked, record_event
from incident_contacts.service.pages import add_receipt
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import (
    engagement_tracks,
    engagements,
    page_receipts,
    pages,
)

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_BATCH = 32
MAX_STEP_ATTEMPTS = 20
"""A step that keeps failing (a bug, a record the data key cannot open) is given up."""


def run_due(runtime: Runtime, worker_id: str, *, limit: int = DEFAULT_BATCH,
            notify: bool = True) -> int:
    """One round: run up to ``limit`` due steps. Returns how many timers it took.

    ``notify``: wake the delivery worker (``runtime.wake_delivery``) when pages were queued.
    The in-process mock passes False and runs delivery itself right after.
    """
    store = runtime.store
    now = runtime.clock.now()
    if store.sqlite:
        # Look before taking the write lock: an idle poll costs a read, not a write.
        with store.transaction(write=False) as conn:
            if not timers.any_due(conn, now):
                return 0
    with store.transaction() as conn:
        batch = timers.pick_due(conn, now, limit)
        try:
            with conn.begin_nested():
                queued = sum(_run(runtime, conn, worker_id, timer) for timer in batch)
                timers.done_all(conn, [timer.id for timer in batch])
        except Exception:
            # One step failed: the batch again, each step alone, so only that one waits.
            queued = sum(_alone(runtime, conn, worker_id, timer, now) for timer in batch)
    if queued and notify:
        runtime.wake_delivery()
    return len(batch)


def _step(runtime: Runtime, conn: Connection, worker_id: str, timer: Row[Any]) -> int:
    queued = _run(runtime, conn, worker_id, timer)
    timers.done(conn, timer.id)
    return queued


def _alone(runtime: Runtime, conn: Connection, worker_id: str, timer: Row[Any],
           now: float) -> int:
    try:
        with conn.begin_nested():
            return _step(runtime, conn, worker_id, timer)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, DataEncryptionException):
            # A record this server's keys cannot open: a configuration matter, not a bug.
            log.warning("engine step %s: %s", timer.key, error)
        else:
            log.exception("engine step %s failed", timer.key)
        if timers.postpone(conn, timer, now, error) >= MAX_STEP_ATTEMPTS:
            record_event(conn, timer.engagement_pk, now, "STEP_FAILED", Step=timer.key,
                         Error=error)
            timers.done(conn, timer.id)
        return 0


def run_all_due(runtime: Runtime, worker_id: str = "in-process") -> int:
    """Rounds until nothing is due; the in-process mock's step. It ends: each round removes
    or postpones every timer it takes, and a step only schedules timers later than itself or
    of the next stage."""
    total = 0
    while True:
        count = run_due(runtime, worker_id, notify=False)
        total += count
        if count == 0:
            return total


def next_due(runtime: Runtime) -> float | None:
    with runtime.store.transaction(write=False) as conn:
        return timers.next_due(conn)


_TRACK = Prepared(sa.select(engagement_tracks)
                  .where(engagement_tracks.c.id == sa.bindparam("track_pk")))


def _run(runtime: Runtime, conn: Connection, worker_id: str, timer: Row[Any]) -> int:
    engagement = locked(conn, timer.engagement_pk)
    if engagement is None:
        return 0
    step = steps.Step(runtime, conn, worker_id, engagement)
    if timer.kind == timers.ENGAGE:
        steps.engage(step, timer.due_at)
    elif timer.kind == timers.ESCALATE:
        steps.escalate(step, int(timer.stage), timer.due_at)
    elif timer.kind == timers.TRACK:
        track = _TRACK.first(conn, {"track_pk": timer.subject_pk})
        if track is not None:
            steps.track_stage(step, track, int(timer.stage), timer.due_at)
    elif timer.kind == timers.RETRY:
        steps.retry(step, int(timer.subject_pk))
    else:
        log.error("engine timer %s has an unknown kind %r; dropped", timer.key, timer.kind)
    return step.queued


# -- receipts from delivery --------------------------------------------------------------------

# Built once, run with parameters: the delivery worker runs these for every page it sends.
_PAGE_BY_ID = Prepared(sa.select(pages).where(pages.c.page_id == sa.bindparam("page_id")))
_ERRORS = Prepared(sa.select(sa.func.count()).select_from(page_receipts).where(
    page_receipts.c.page_pk == sa.bindparam("page_pk"), page_receipts.c.receipt_type == "ERROR"))
_STOPPED = Prepared(sa.select(
    engagements.c.stop_time,
    sa.select(engagement_tracks.c.stopped_at)
    .where(engagement_tracks.c.id == sa.bindparam("track_pk")).scalar_subquery()
    .label("track_stopped_at"),
).where(engagements.c.id == sa.bindparam("engagement_pk")))
_EXPIRY = Prepared(sa.select(outbox.c.expires_at).where(outbox.c.id == sa.bindparam("mid")))
_MARK_SENT = Prepared(pages.update().where(pages.c.id == sa.bindparam("page")).values(
    sent_time=sa.func.coalesce(pages.c.sent_time, sa.bindparam("at")),
    provider_message_id=sa.bindparam("provider"),
))


def record_delivery(conn: Connection, row: Row[Any], outcome: delivery.Outcome) -> None:
    """SENT: a SENT receipt with the provider's message id, and the page's SentTime. FAILED:
    an ERROR receipt with the reason, and a retry after the target's RetryIntervalInMinutes
    when the planner says so; nothing for a page cancelled before its message went out.

    A page message carries an expiry only once it is cancelled (``service.pages.cancel_pending``
    gives one to a message a worker holds; one nobody holds is failed there and then, with no
    receipt). Its failure is then no delivery failure: the page was withdrawn, and its READ or
    STOP receipt says why. An ERROR receipt after it would report a provider's failure nobody
    waits on any more (ERROR is a delivery failure, aws-ssm-contacts.md §6.3), and a page
    cancelled while a worker held it would read differently from one cancelled a moment
    earlier. The expiry is read from the row as it is now, settled in this transaction (the
    hook's ``row`` is the message as it was claimed, before the cancel)."""
    if row.purpose != "PAGE" or not row.page_arn:
        return
    arn = arns.parse(row.page_arn)
    if arn is None or len(arn.parts) != 2:
        return
    page = _PAGE_BY_ID.first(conn, {"page_id": arn.parts[1]})
    if page is None:
        return
    if outcome.status == "SENT":
        provider_id = outcome.result.provider_message_id if outcome.result else None
        add_receipt(conn, None, page, "SENT", channel_arn=row.channel_arn, at=outcome.at,
                    info=provider_id, message_id=row.message_id)
        _MARK_SENT.execute(conn, {"page": page.id, "at": outcome.at,
                                  "provider": None if provider_id is None
                                  else provider_id[:256]})
        return
    if row.expires_at is not None or _EXPIRY.scalar(conn, {"mid": row.id}) is not None:
        return
    add_receipt(conn, None, page, "ERROR", channel_arn=row.channel_arn, at=outcome.at,
                info=outcome.error or "delivery failed", message_id=row.message_id)
    failures = int(_ERRORS.scalar(conn, {"page_pk": page.id}))
    state = _STOPPED.first(conn, {"engagement_pk": page.engagement_pk,
                                  "track_pk": page.track_pk})
    due = planner.retry_due(
        retries_done=failures - 1, interval_minutes=page.retry_interval,
        failed_at=outcome.at, read=page.read_time is not None,
        halted=state.stop_time is not None or state.track_stopped_at is not None,
    )
    if due is not None:
        timers.schedule(conn, key=f"retry:{page.id}:{failures}", kind=timers.RETRY,
                        due_at=due, engagement_pk=page.engagement_pk, subject_pk=page.id)


def install() -> None:
    """Register :func:`record_delivery` with the delivery worker (once per process)."""
    if record_delivery not in delivery.on_delivered:
        delivery.on_delivered.append(record_delivery)


__all__ = ["DEFAULT_BATCH", "install", "next_due", "record_delivery", "run_all_due",
           "run_due"]
