"""Claims are leases: how long a delivery worker's claim on an outbox row holds
(:data:`CLAIM_SECONDS`), and the clock claims are dated and judged by (:func:`lease_time`).

Shared by the worker that claims (``engine.delivery``) and the look for claims of workers
that are gone (``engine.presence``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.clock import SystemClock

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime


CLAIM_SECONDS = 60.0
"""How long a claim holds a row. A worker stops sending a batch at half of it and gives the
rest back, so a live worker never loses a row it is still working on. Claims are dated and
judged in :func:`lease_time`."""


def lease_time(runtime: Runtime, conn: Connection | None = None) -> float:
    """The time claims are dated and judged by (``claimed_until``). On a server that is the
    real time, not its clock: the inspection clock may be moved forward (``SystemClock.advance``)
    to make retries and escalation stages due at once, and it moves on one server at a time,
    so a claim dated by it would look run out to another server, or to this one, while its
    holder is still sending, and the message would go out twice. On PostgreSQL the real time
    is the database server's (read with ``conn`` when given, else in a read transaction of its
    own): servers on several hosts share the outbox, and the host clocks may disagree by more
    than a claim lasts. Elsewhere (the in-process mock, tests with a clock of their own, on
    any database) the runtime's clock stands for the real time."""
    clock = runtime.clock
    if not isinstance(clock, SystemClock):
        return clock.now()
    if runtime.store.sqlite:
        return time.time()
    if conn is None:
        with runtime.store.transaction(write=False) as own:
            return float(own.execute(_DATABASE_TIME).scalar_one())
    return float(conn.execute(_DATABASE_TIME).scalar_one())


_DATABASE_TIME = sa.select(sa.cast(sa.extract("epoch", sa.func.clock_timestamp()),
                                   sa.Float(precision=53)))
"""PostgreSQL's real time, in epoch seconds: its clock when read, not its transaction's start."""


__all__ = ["CLAIM_SECONDS", "lease_time"]
