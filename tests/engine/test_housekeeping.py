"""Housekeeping: delivered and failed messages go after the retention period, with their
attempt records; pending messages stay whatever their age."""

from __future__ import annotations

import dataclasses
import time

import pytest
import sqlalchemy as sa

from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine.delivery import deliver_due
from incident_contacts.engine.housekeeping import Housekeeper, prune_outbox
from incident_contacts.server import build_workers
from incident_contacts.store.schema.delivery import delivery_attempts, outbox
from tests.engine.test_delivery import START, enqueue, make_runtime

DAY = 86400.0


def statuses(runtime) -> dict[str, str]:
    with runtime.store.transaction(write=False) as conn:
        return dict(conn.execute(sa.select(outbox.c.message_id, outbox.c.status)).all())


def attempts(runtime) -> int:
    with runtime.store.transaction(write=False) as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(delivery_attempts)).scalar()


def set_status(runtime, message_ids, status: str) -> None:
    with runtime.store.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.message_id.in_(message_ids))
                     .values(status=status))


@pytest.mark.parametrize("batch", [1000, 2])
def test_old_final_messages_go_with_their_attempts(tmp_path, batch) -> None:
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'h.db'}", clock=clock)
    try:
        sent = enqueue(runtime, 3)
        deliver_due(runtime, {"SMS": MemoryTransport()}, "w")
        failed = enqueue(runtime, 2)
        set_status(runtime, failed, "FAILED")
        pending = enqueue(runtime, 2)            # e.g. waiting for a retry, or a provider
        clock.advance(10 * DAY)
        young = enqueue(runtime, 2)
        deliver_due(runtime, {"SMS": MemoryTransport()}, "w")   # sends the young and pending
        set_status(runtime, pending, "PENDING")
        assert attempts(runtime) == 3 + 4

        clock.advance(29 * DAY)                  # the first ones are 39 days old, the young 29
        assert prune_outbox(runtime, batch=batch) == 5
        left = statuses(runtime)
        assert set(left) == {*pending, *young} and not set(left) & {*sent, *failed}
        assert attempts(runtime) == 4            # the attempts of the deleted rows went too
        assert prune_outbox(runtime, batch=batch) == 0

        clock.advance(2 * DAY)
        assert prune_outbox(runtime, batch=batch) == 2
        assert set(statuses(runtime)) == set(pending)   # never a pending one
    finally:
        runtime.close()


def test_a_retention_of_zero_keeps_everything(tmp_path) -> None:
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'h.db'}", clock=clock)
    runtime.settings = dataclasses.replace(runtime.settings, outbox_retention_days=0)
    try:
        enqueue(runtime, 2)
        deliver_due(runtime, {"SMS": MemoryTransport()}, "w")
        clock.advance(1000 * DAY)
        assert prune_outbox(runtime) == 0 and len(statuses(runtime)) == 2
    finally:
        runtime.close()


def test_the_server_keeps_house(tmp_path) -> None:
    """The server runs it at start and every ten minutes; ``0`` leaves it out."""
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'h.db'}", clock=clock)
    try:
        enqueue(runtime)
        deliver_due(runtime, {"SMS": MemoryTransport()}, "w")
        clock.advance(31 * DAY)
        (keeper,) = [w for w in build_workers(runtime, {}) if isinstance(w, Housekeeper)]
        keeper.start()
        try:
            deadline = time.monotonic() + 10
            while statuses(runtime) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            keeper.stop()
        assert statuses(runtime) == {}
        runtime.settings = Settings(database=runtime.settings.database,
                                    outbox_retention_days=0)
        assert not any(isinstance(w, Housekeeper) for w in build_workers(runtime, {}))
    finally:
        runtime.close()
