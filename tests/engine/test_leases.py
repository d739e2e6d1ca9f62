"""Delivery claims run on real time, not on a server's inspection clock: moving that clock
forward (to make retries and escalation stages due) must not make a claim another server is
still sending under look run out. Found by tests/engine/test_chaos.py: two servers whose
clocks were moved one after the other sent messages twice. On PostgreSQL, where servers on
several hosts share the outbox, claims follow the database server's clock, not the hosts'."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from incident_contacts.clock import ManualClock, SystemClock
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine.delivery import _claim, deliver_due
from incident_contacts.engine.leases import CLAIM_SECONDS, lease_time
from incident_contacts.engine.presence import Presence, release_abandoned_claims
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


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                          marks=pytest.mark.postgres)])
def test_a_clock_of_its_own_is_the_lease_time(backend: str,
                                              request: pytest.FixtureRequest) -> None:
    """The in-process mock and tests move their own clock: claims follow it there, on
    PostgreSQL too (tests that control leases with a manual clock)."""
    database = "sqlite://" if backend == "sqlite" else request.getfixturevalue("pg_database")
    clock = ManualClock(1_000.0)
    runtime = build_runtime(Settings(database=database, data_key=data_key(), workers=False),
                            clock)
    try:
        assert lease_time(runtime) == 1_000.0
        clock.advance(5)
        assert lease_time(runtime) == 1_005.0
    finally:
        runtime.close()


# -- PostgreSQL: one clock for every host -----------------------------------------------------

_REAL_TIME = time.time


@pytest.fixture
def pg_servers(pg_database: str) -> Iterator[tuple[Runtime, Runtime]]:
    """Two servers' runtimes on one PostgreSQL database, as on two hosts."""
    key = data_key()
    first, second = _server_runtime(pg_database, key), _server_runtime(pg_database, key)
    yield first, second
    first.close()
    second.close()


def _host_clock(monkeypatch: pytest.MonkeyPatch, skew: float) -> None:
    """From now on this process runs on a host whose clock is ``skew`` seconds off."""
    monkeypatch.setattr(time, "time", lambda: _REAL_TIME() + skew)


@pytest.mark.postgres
def test_on_postgresql_a_host_running_ahead_leaves_live_claims_alone(
        pg_servers: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch) -> None:
    slow, fast = pg_servers
    (message,) = enqueue(slow, 1)
    presence = Presence(slow, "slow-worker")
    presence.announce()
    try:
        [row] = _claim(slow, "slow-worker", 10)           # being sent now
        assert row.claimed_until == pytest.approx(_REAL_TIME() + CLAIM_SECONDS, abs=5)
        _host_clock(monkeypatch, 10 * CLAIM_SECONDS)      # the fast host's turn
        memory = MemoryTransport()
        assert deliver_due(fast, transports_of(memory), "fast-worker") == 0
        assert memory.sent == []
        assert release_abandoned_claims(fast, "fast-worker") == 0      # alive: its lock
        assert message_row(fast, message).claimed_by == "slow-worker"
        presence.close()            # its holder gone, the live claim is given back
        assert release_abandoned_claims(fast, "fast-worker") == 1
    finally:
        presence.close()


@pytest.mark.postgres
def test_on_postgresql_a_host_running_ahead_dates_its_claims_by_the_database(
        pg_servers: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _slow = pg_servers
    enqueue(fast, 1)
    _host_clock(monkeypatch, 10 * CLAIM_SECONDS)
    [row] = _claim(fast, "fast-worker", 10)
    assert row.claimed_until == pytest.approx(_REAL_TIME() + CLAIM_SECONDS, abs=5)


@pytest.mark.postgres
def test_on_postgresql_a_host_running_behind_takes_claims_that_ran_out(
        pg_servers: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch) -> None:
    first, slow = pg_servers
    (message,) = enqueue(first, 1)
    with first.store.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.message_id == message)
                     .values(claimed_by="gone-long-ago", claimed_until=_REAL_TIME() - 1,
                             next_attempt_at=_REAL_TIME() - 100 * CLAIM_SECONDS))
    _host_clock(monkeypatch, -10 * CLAIM_SECONDS)
    memory = MemoryTransport()
    assert deliver_due(slow, transports_of(memory), "slow-worker") == 1
    assert [m.message_id for m in memory.sent] == [message]
