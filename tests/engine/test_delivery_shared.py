"""Several delivery workers, each with its own engine as separate processes would have, on one
database: every message is sent exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from incident_contacts.delivery import DeliveryResult, MemoryTransport, OutgoingMessage
from incident_contacts.engine.delivery import DeliveryWorker, deliver_due
from incident_contacts.store.schema.delivery import delivery_attempts
from incident_contacts.store.schema.delivery import outbox as outbox_table
from tests.engine.test_delivery import data_key, enqueue, make_runtime, transports_of


class SlowMemory(MemoryTransport):
    """Takes a little time per send, as a provider does, so the workers' batches overlap."""

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        time.sleep(0.002)
        return super().send(message)


def _share(database: str, count: int = 100) -> None:
    key = data_key()
    runtimes = [make_runtime(database, key=key) for _ in range(2)]
    transports = [SlowMemory() for _ in runtimes]
    ids = enqueue(runtimes[0], count)
    workers = [
        DeliveryWorker(runtime, transports_of(transport), worker_id=f"worker-{n}",
                       poll_interval=0.02, batch=5)
        for n, (runtime, transport) in enumerate(zip(runtimes, transports, strict=True))
    ]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while sum(len(t.sent) for t in transports) < count:
            assert time.monotonic() < deadline, "the workers did not send everything"
            time.sleep(0.02)
        time.sleep(0.2)  # anything sent twice would show now
    finally:
        for worker in workers:
            worker.stop()
    sent = Counter(m.message_id for t in transports for m in t.sent)
    assert sorted(sent) == sorted(ids)
    assert set(sent.values()) == {1}
    assert all(t.sent for t in transports), [len(t.sent) for t in transports]
    with runtimes[0].store.transaction(write=False) as conn:
        statuses = Counter(conn.execute(sa.select(outbox_table.c.status)).scalars())
        attempts = conn.execute(
            sa.select(delivery_attempts.c.worker, sa.func.count()).group_by(
                delivery_attempts.c.worker)
        ).all()
    for runtime in runtimes:
        runtime.close()
    assert statuses == {"SENT": count}
    assert {worker: n for worker, n in attempts} == {
        f"worker-{i}": len(t.sent) for i, t in enumerate(transports)
    }


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_each_message_once(pg_database: str) -> None:
    _share(pg_database)


def test_two_workers_on_one_sqlite_file_send_each_message_once(tmp_path: Path) -> None:
    _share(f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.postgres
def test_the_claim_is_atomic_between_racing_rounds(pg_database: str) -> None:
    """Many rounds at once, all starting together: still one send per message."""
    key = data_key()
    runtimes = [make_runtime(pg_database, key=key) for _ in range(4)]
    ids = enqueue(runtimes[0], 40)
    transports = [MemoryTransport() for _ in runtimes]
    barrier = threading.Barrier(len(runtimes))

    def run(n: int) -> None:
        barrier.wait()
        while deliver_due(runtimes[n], transports_of(transports[n]), f"r{n}", limit=3):
            pass

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(runtimes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for runtime in runtimes:
        runtime.close()
    sent = Counter(m.message_id for t in transports for m in t.sent)
    assert sorted(sent) == sorted(ids)
    assert set(sent.values()) == {1}
