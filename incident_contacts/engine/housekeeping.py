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
  signs in to again would keep them), and the console's counts of failed sign-ins once their
  failures are forgotten.
* History, only when asked for (AWS keeps it for ever, and so do we by default): engagements
  stopped more than ``engagement_retention_days`` ago go with everything that belongs to them
  (people's tracks, pages, receipts, the engine's log and timers, and the page messages that
  reached their end), and rotation overrides that ended more than ``override_retention_days``
  ago go with their contact lists. An engagement is finished only when it is stopped
  (StopEngagement sets its ``stop_time``; the engine never does): one never stopped is running
  however old, and stays. One whose page still has a message ``PENDING`` waits for it.
* Error texts written by releases before 48f81bd, which could name the delivery address in
  plain, are scrubbed once (:mod:`incident_contacts.engine.legacy_texts`).
* Contact display names stored in plain by releases before migration 0011 are sealed once
  (:mod:`incident_contacts.engine.legacy_names`).

Outbox and idempotency rows are visited in id order, which is the order they were written in,
and each round stops at the first one too young to go, so a round costs what it deletes, not
the table's size. Stopped engagements and overrides are read through indexes of the time they
stopped or ended, oldest first, to the same effect. The in-process mock never deletes: a test
reads every message it caused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.api.dispatch import IDEMPOTENCY_WINDOW
from incident_contacts.engine.background import BackgroundLoop
from incident_contacts.engine.legacy_names import seal_legacy_display_names
from incident_contacts.engine.legacy_texts import scrub_legacy_error_texts
from incident_contacts.service import arns
from incident_contacts.store.schema.console import console_sessions, console_sign_in_limits
from incident_contacts.store.schema.core import idempotency
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import (
    engagement_events,
    engagement_tracks,
    engagements,
    engine_timers,
    page_receipts,
    pages,
)
from incident_contacts.store.schema.rotations import override_members, rotation_overrides

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

INTERVAL = 600.0
"""Seconds between rounds (and a round at start)."""

BATCH = 1000
"""Rows looked at, and deleted, in one transaction."""

ENGAGEMENT_BATCH = 100
"""Engagements looked at, and deleted with all their rows, in one transaction."""

DAY = 86400.0

_FINAL = ("SENT", "FAILED")
_IN_CHUNK = 500
"""Values in one ``IN (...)`` list (SQLite limits a statement's parameters)."""


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


def prune_sign_in_limits(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Delete the console's sign-in limit rows whose failures are all forgotten (a row past
    its ``clear_at`` is the same as none: ``console.sign_ins``), ``batch`` a transaction; how
    many. A row a sign-in holds is left for the next round (PostgreSQL: ``SKIP LOCKED``):
    a sign-in locks its rows in its own order, and one DELETE locking them in another order
    while waiting for them ended a sign-in in a deadlock. Batches keep a table that many
    addresses filled from holding the write lock for one long statement."""
    table = console_sign_in_limits
    deleted = 0
    while True:
        with runtime.store.transaction() as conn:
            keys = conn.execute(
                sa.select(table.c.key_hash).where(table.c.clear_at <= runtime.clock.now())
                .limit(batch).with_for_update(skip_locked=True)).scalars().all()
            if keys:
                conn.execute(table.delete().where(table.c.key_hash.in_(keys)))
        deleted += len(keys)
        if len(keys) < batch:
            return deleted


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


# -- history: engagements and overrides --------------------------------------------------------


def prune_engagements(runtime: Runtime, *, batch: int = ENGAGEMENT_BATCH) -> int:
    """Delete the engagements stopped longer ago than the retention, with everything that
    belongs to them, ``batch`` engagements a transaction; how many were deleted.

    Kept whatever their age: a running engagement (never stopped), one whose page still has a
    message ``PENDING``, one a concurrent call holds (PostgreSQL; it goes next round), and the
    engagement with the highest row id and the one with the page of the highest row id:
    SQLite gives a new row the highest id plus one, so deleting the newest rows would hand
    their ids out again, and a pagination token naming an old id would then name a new row.
    Keeping the newest (until a newer one exists) means ids are never reused on either
    database."""
    days = runtime.settings.engagement_retention_days
    if days <= 0:
        return 0
    horizon = runtime.clock.now() - days * DAY
    deleted, after = 0, None
    while True:
        with runtime.store.transaction() as conn:
            rows = _stopped_before(conn, horizon, after, batch)
            deleted += _delete_engagements(conn, [row.id for row in rows])
        if len(rows) < batch:
            break
        after = (rows[-1].stop_time, rows[-1].id)
    if deleted:
        log.info("deleted %d engagements stopped more than %g days ago", deleted, days)
    return deleted


def _stopped_before(conn: Connection, horizon: float, after: tuple[float, int] | None,
                    batch: int) -> list[Any]:
    """The next ``batch`` engagements stopped before ``horizon``, oldest stop first, after the
    (stop_time, id) ``after`` (ix_engagements_stopped)."""
    e = engagements.c
    query = sa.select(e.id, e.stop_time).where(e.stop_time.is_not(None), e.stop_time < horizon)
    if after is not None:
        query = query.where(sa.or_(e.stop_time > after[0],
                                   sa.and_(e.stop_time == after[0], e.id > after[1])))
    return list(conn.execute(query.order_by(e.stop_time, e.id).limit(batch)).all())


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]


def _delete_engagements(conn: Connection, candidates: list[int]) -> int:
    """Delete what may go of these stopped engagements (see :func:`prune_engagements`); how
    many engagements went.

    Lock order on PostgreSQL is the engine runner's: its timers first (a runner holding one
    finishes its step, a no-op on a stopped engagement, before they go), then the engagement
    rows, skipping any a call holds. Every other writer of an engagement's rows takes its
    row lock first, so none is half-way through what is deleted here."""
    newest = {conn.execute(sa.select(sa.func.max(engagements.c.id))).scalar(),
              conn.execute(sa.select(pages.c.engagement_pk).where(
                  pages.c.id == sa.select(sa.func.max(pages.c.id)).scalar_subquery())).scalar()}
    ids = [pk for pk in candidates if pk not in newest]
    if not ids:
        return 0
    page_rows = [row for chunk in _chunks(ids) for row in conn.execute(
        sa.select(pages.c.id, pages.c.engagement_pk, pages.c.page_id, pages.c.account,
                  pages.c.region, pages.c.contact_alias, pages.c.channel_id)
        .where(pages.c.engagement_pk.in_(chunk)))]
    busy = _with_pending_messages(conn, page_rows)
    ids = [pk for pk in ids if pk not in busy]
    for chunk in _chunks(ids):
        conn.execute(engine_timers.delete().where(engine_timers.c.engagement_pk.in_(chunk)))
    if conn.dialect.name == "postgresql":
        locked = {pk for chunk in _chunks(ids) for pk in conn.execute(
            sa.select(engagements.c.id).where(engagements.c.id.in_(chunk))
            .with_for_update(skip_locked=True)).scalars()}
        ids = [pk for pk in ids if pk in locked]
    if not ids:
        return 0
    keep = set(ids)
    page_rows = [row for row in page_rows if row.engagement_pk in keep]
    _delete_final_messages(conn, page_rows)
    page_ids = [row.id for row in page_rows]
    for chunk in _chunks(page_ids):
        conn.execute(page_receipts.delete().where(page_receipts.c.page_pk.in_(chunk)))
        conn.execute(pages.delete().where(pages.c.id.in_(chunk)))
    for chunk in _chunks(ids):
        for table in (engagement_events, engine_timers, engagement_tracks):
            conn.execute(table.delete().where(table.c.engagement_pk.in_(chunk)))
        conn.execute(engagements.delete().where(engagements.c.id.in_(chunk)))
    return len(ids)


def _message_keys(page_rows: list[Any]) -> tuple[dict[str, int], list[str]]:
    """The page ARNs (to their engagement) and channel ARNs their messages are filed under."""
    by_page = {arns.build(row.region, row.account, "page", row.contact_alias, row.page_id):
               int(row.engagement_pk) for row in page_rows}
    channel_arns = sorted({arns.channel_arn(row.region, row.account, row.contact_alias,
                                            row.channel_id) for row in page_rows})
    return by_page, channel_arns


def _messages_of(page_arns: list[str], channel_arns: list[str]) -> Iterator[Any]:
    """Conditions for the outbox rows of these pages, in chunks. A page has one channel, so
    the rows whose page ARN is one of these are those of these pages; the channel ARNs only
    let the database use ix_outbox_channel."""
    for channels in _chunks(channel_arns):
        for chunk in _chunks(page_arns):
            yield sa.and_(outbox.c.channel_arn.in_(channels), outbox.c.page_arn.in_(chunk))


def _with_pending_messages(conn: Connection, page_rows: list[Any]) -> set[int]:
    """The engagements one of whose pages has a message still ``PENDING``."""
    by_page, channel_arns = _message_keys(page_rows)
    busy: set[int] = set()
    for condition in _messages_of(sorted(by_page), channel_arns):
        busy.update(by_page[arn] for arn in conn.execute(
            sa.select(outbox.c.page_arn).where(condition, outbox.c.status == "PENDING"))
            .scalars())
    return busy


def _delete_final_messages(conn: Connection, page_rows: list[Any]) -> None:
    """The page messages that reached their end (their attempts go by the foreign key)."""
    by_page, channel_arns = _message_keys(page_rows)
    for condition in _messages_of(sorted(by_page), channel_arns):
        conn.execute(outbox.delete().where(condition, outbox.c.status.in_(_FINAL)))


def prune_overrides(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Delete the rotation overrides that ended longer ago than the retention, with their
    contact lists, ``batch`` a transaction, oldest end first; how many were deleted."""
    days = runtime.settings.override_retention_days
    if days <= 0:
        return 0
    horizon = runtime.clock.now() - days * DAY
    o = rotation_overrides.c
    deleted = 0
    while True:
        with runtime.store.transaction() as conn:
            ids = list(conn.execute(sa.select(o.id).where(o.end_time < horizon)
                                    .order_by(o.end_time, o.id).limit(batch)).scalars())
            if ids:
                # The overrides first, their lists after (the foreign key's cascade does too):
                # the order DeleteRotationOverride and DeleteRotation lock them in, so one of
                # those waits for this on PostgreSQL rather than deadlocking with it.
                conn.execute(rotation_overrides.delete().where(o.id.in_(ids)))
                conn.execute(override_members.delete()
                             .where(override_members.c.override_pk.in_(ids)))
        deleted += len(ids)
        if len(ids) < batch:
            break
    if deleted:
        log.info("deleted %d rotation overrides that ended more than %g days ago", deleted,
                 days)
    return deleted


def keep_house(runtime: Runtime) -> None:
    """One round of every kind of housekeeping; one failing does not keep the others out."""
    for prune in (seal_legacy_display_names, scrub_legacy_error_texts, prune_outbox,
                  prune_idempotency, prune_console_sessions, prune_sign_in_limits,
                  prune_engagements, prune_overrides):
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


__all__ = ["BATCH", "ENGAGEMENT_BATCH", "INTERVAL", "Housekeeper", "keep_house",
           "prune_console_sessions", "prune_engagements", "prune_idempotency", "prune_outbox",
           "prune_overrides", "prune_sign_in_limits"]
