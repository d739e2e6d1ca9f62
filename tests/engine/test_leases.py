"""Delivery claims run on real time, not on a server's inspection clock: moving that clock
forward (to make retries and escalation stages due) must not make a claim another server is
still sending under look run out. Found by tests/engine/test_chaos.py: two servers whose
clocks were moved one after the other sent messages twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from incident_contacts.clock import ManualClock, SystemClock
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine.delivery import (
    CLAIM_SECONDS,
    _claim,
    deliver_due,
    lease_time,
    release_abandoned_claims,
)
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_runtime
from incident_contacts.store.schema.delivery import outbox
from tests.engine.test_delivery import data_key, enqueue, message_row, transports_of


def _server_runtime(database: str, key: str) -> Runtime:
    return build_runtime(Settings(database=database, data_key=key, workers=False),
                         SystemClock())


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    """Two servers' runtimes on one SQLite file, each with a clock of its own."""
    database, key = f"sqlite:///{tmp_path / 'leases.db'}", data_key()
    first, second = _server_runtime(database, key), _server_runtime(database, key)
    yield first, second
    first.close()
    second.close()


def test_moving_one_servers_clock_does_not_free_anothers_claims(
        servers: tuple[Runtime, Runtime]) -> None:
    holder, other = servers
    (message,) = enqueue(holder, 1)
    [row] = _claim(holder, "holder-worker", 10)          # being sent now
    assert row.message_id == message
    assert row.claimed_until == pytest.approx(time.time() + CLAIM_SECONDS, abs=5)
    other.clock.advance(10 * CLAIM_SECONDS)               # type: ignore[attr-defined]
    memory = MemoryTransport()
    assert deliver_due(other, transports_of(memory), "other-worker") == 0
    assert memory.sent == []
    holder.clock.advance(10 * CLAIM_SECONDS)              # type: ignore[attr-defined]
    assert deliver_due(holder, transports_of(memory), "third-worker") == 0
    assert release_abandoned_claims(other, "other-worker") == 0      # still judged live
    assert message_row(other, message).claimed_by == "holder-worker"


def test_a_moved_clock_still_makes_retries_due_at_once(
        servers: tuple[Runtime, Runtime]) -> None:
    first, _second = servers
    (message,) = enqueue(first, 1)
    with first.store.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.message_id == message)
                     .values(next_attempt_at=time.time() + 120))
    memory = MemoryTransport()
    assert deliver_due(first, transports_of(memory), "w") == 0
    first.clock.advance(121)                              # type: ignore[attr-defined]
    assert deliver_due(first, transports_of(memory), "w") == 1
    assert [m.message_id for m in memory.sent] == [message]


def test_a_claim_runs_out_in_real_time(servers: tuple[Runtime, Runtime]) -> None:
    holder, other = servers
    (message,) = enqueue(holder, 1)
    with holder.store.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.message_id == message)
                     .values(claimed_by="gone-long-ago", claimed_until=time.time() - 1))
    memory = MemoryTransport()
    assert deliver_due(other, transports_of(memory), "other-worker") == 1
    assert [m.message_id for m in memory.sent] == [message]


def test_a_clock_of_its_own_is_the_lease_time() -> None:
    """The in-process mock and tests move their own clock: claims follow it there."""
    clock = ManualClock(1_000.0)
    runtime = build_runtime(Settings(database="sqlite://", workers=False), clock)
    try:
        assert lease_time(runtime) == 1_000.0
        clock.advance(5)
        assert lease_time(runtime) == 1_005.0
    finally:
        runtime.close()
