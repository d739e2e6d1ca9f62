"""The engine's timers: rows that say which step of an engagement is due when.

A timer is written in the transaction that makes the step necessary (StartEngagement, a stage
that schedules the next one, a failed delivery), so it is as durable as that transaction. The
runner takes due timers with row locks and removes each in the same transaction as the step's
writes: a step either happened entirely, timer gone, or not at all, timer still there.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema.engagements import engine_timers

ENGAGE = "ENGAGE"          # resolve the engaged contact (stage 0 of everything)
ESCALATE = "ESCALATE"      # stage n > 0 of an escalation plan
TRACK = "TRACK"            # stage n > 0 of a person's engagement plan
RETRY = "RETRY"            # send a page again after its delivery failed


# Built once, run with parameters: a statement's construction costs more than running it.
_TIMER_COLUMNS = ("key", "kind", "due_at", "engagement_pk", "subject_pk", "stage", "attempts")
_INSERT_NEW = {
    dialect.__name__.rsplit(".", 1)[-1]: Prepared(
        dialect.insert(engine_timers)
        .values({name: sa.bindparam(name) for name in _TIMER_COLUMNS})
        .on_conflict_do_nothing(index_elements=["key"]))
    for dialect in (postgresql, sqlite)
}
_PICK_QUERY = (
    sa.select(engine_timers)
    .where(engine_timers.c.due_at <= sa.bindparam("now"))
    .order_by(engine_timers.c.due_at, engine_timers.c.id)
    .limit(sa.bindparam("limit"))
)
_PICK = Prepared(_PICK_QUERY)
_PICK_LOCKED = Prepared(_PICK_QUERY.with_for_update(skip_locked=True))
_ANY_DUE = Prepared(sa.select(engine_timers.c.id)
                    .where(engine_timers.c.due_at <= sa.bindparam("now")).limit(1))
_NEXT_DUE = Prepared(sa.select(sa.func.min(engine_timers.c.due_at)))
_DONE = Prepared(engine_timers.delete().where(engine_timers.c.id == sa.bindparam("timer_id")))


def schedule(conn: Connection, *, key: str, kind: str, due_at: float, engagement_pk: int,
             subject_pk: int | None = None, stage: int | None = None) -> bool:
    """Add a timer unless one with this key exists; True when added. The key names the step,
    so a step that ran twice would still schedule its successor once."""
    insert = _INSERT_NEW["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    return bool(insert.execute(conn, {
        "key": key, "kind": kind, "due_at": due_at, "engagement_pk": engagement_pk,
        "subject_pk": subject_pk, "stage": stage, "attempts": 0,
    }))


def pick_due(conn: Connection, now: float, limit: int) -> list[Row[Any]]:
    """Due timers, locked for this transaction. On PostgreSQL ``FOR UPDATE SKIP LOCKED``: two
    workers never take the same timer and neither waits for the other. On SQLite the
    transaction holds the database's one write lock, which serialises workers anyway.

    Ordered by engagement so that the engagement rows the steps lock are taken in one order
    by every worker (no deadlock between two workers' batches).
    """
    query = _PICK_LOCKED if conn.dialect.name == "postgresql" else _PICK
    rows = query.all(conn, {"now": now, "limit": limit})
    return sorted(rows, key=lambda r: (r.engagement_pk, r.due_at, r.id))


def any_due(conn: Connection, now: float) -> bool:
    return _ANY_DUE.first(conn, {"now": now}) is not None


def next_due(conn: Connection) -> float | None:
    value = _NEXT_DUE.scalar(conn, {})
    return None if value is None else float(value)


def done(conn: Connection, timer_id: int) -> None:
    _DONE.execute(conn, {"timer_id": timer_id})


def done_all(conn: Connection, timer_ids: list[int]) -> None:
    """Remove several timers at once (those of a batch whose steps all ran)."""
    _DONE.execute_many(conn, [{"timer_id": timer_id} for timer_id in timer_ids])


def postpone(conn: Connection, timer: Row[Any], now: float, error: str) -> int:
    """A step that failed is tried again later: 2, 4, 8 ... seconds, at most 5 minutes."""
    attempts = int(timer.attempts) + 1
    delay = min(300.0, 2.0 ** attempts)
    conn.execute(
        engine_timers.update().where(engine_timers.c.id == timer.id)
        .values(attempts=attempts, due_at=now + delay, last_error=error[:2000])
    )
    return attempts


__all__ = [
    "ENGAGE",
    "ESCALATE",
    "RETRY",
    "TRACK",
    "any_due",
    "done",
    "done_all",
    "next_due",
    "pick_due",
    "postpone",
    "schedule",
]
