"""Several delivery workers, each with its own engine as separate processes would have, on one
database: every message is sent exactly once, and the claims of a worker that is gone are
given back at once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incident_contacts.delivery import DeliveryResult, MemoryTransport, OutgoingMessage
from incident_contacts.engine.delivery import DeliveryWorker, deliver_due
from incident_contacts.engine.presence import Presence, release_abandoned_claims
from incident_contacts.runtime import Runtime
from incident_contacts.store.schema.delivery import delivery_attempts
from incident_contacts.store.schema.delivery import outbox as outbox_table
from tests.delivery.conftest import served
from tests.engine.test_delivery import (
    START,
    data_key,
    enqueue,
    make_runtime,
    transports_of,
)


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


def _claim(runtime: Runtime, holders: dict[str, str], until: float) -> None:
    """Mark messages claimed, by message id: holder."""
    with runtime.store.transaction() as conn:
        for message_id, holder in holders.items():
            conn.execute(outbox_table.update().where(outbox_table.c.message_id == message_id)
                         .values(claimed_by=holder, claimed_until=until))


def _wait_for(transport: MemoryTransport, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(transport.sent) < count:
        assert time.monotonic() < deadline, f"{len(transport.sent)} of {count} sent"
        time.sleep(0.02)


@pytest.mark.postgres
def test_claims_of_a_worker_that_is_gone_are_given_back_on_postgresql(pg_database: str) -> None:
    """A worker on another host holds its presence lock while it runs: its claims are left
    alone. Once its session ends (as a killed process's does), a running worker gives the
    claims back within its liveness interval, not when the lease runs out: the clocks here
    never move, so no lease ever does. A claim whose holder never held a lock is given back
    at start."""
    key = data_key()
    elsewhere = make_runtime(pg_database, key=key)
    here = make_runtime(pg_database, key=key)
    vanished, alive = enqueue(here, 2)
    presence = Presence(elsewhere, "host-b:41:alive")
    presence.announce()
    _claim(here, {vanished: "host-c:42:vanished", alive: "host-b:41:alive"}, until=START + 60)
    memory = MemoryTransport()
    worker = DeliveryWorker(here, transports_of(memory), worker_id="host-a:40:here",
                            poll_interval=0.05, liveness_interval=0.05)
    worker.start()
    try:
        _wait_for(memory, 1)
        time.sleep(0.5)              # rounds and liveness checks go on: the live claim holds
        assert [m.message_id for m in memory.sent] == [vanished]
        presence.close()             # the other worker's session ends
        _wait_for(memory, 2)
    finally:
        worker.stop()
        presence.close()
        here.close()
        elsewhere.close()
    assert [m.message_id for m in memory.sent] == [vanished, alive]


@pytest.mark.postgres
def test_a_live_worker_of_this_host_name_in_another_pid_namespace_keeps_its_claims(
        pg_database: str) -> None:
    """On PostgreSQL the presence lock alone says whether a holder is gone. A worker whose id
    names this host but a pid this process cannot see (another container with the same host
    name, as under host networking) is alive while it holds its lock: its claim stays."""
    key = data_key()
    elsewhere = make_runtime(pg_database, key=key)
    here = make_runtime(pg_database, key=key)
    (message,) = enqueue(here, 1)
    unseen = 4_194_000          # above the default pid_max: no process here has it
    with pytest.raises(ProcessLookupError):
        os.kill(unseen, 0)
    holder = f"{socket.gethostname()[:32]}:{unseen}:sibling"
    presence = Presence(elsewhere, holder)
    presence.announce()
    _claim(here, {message: holder}, until=START + 60)
    try:
        assert release_abandoned_claims(here, "host-a:40:here") == 0
        presence.close()
        assert release_abandoned_claims(here, "host-a:40:here") == 1
    finally:
        presence.close()
        here.close()
        elsewhere.close()


class _Hanging:
    """A webhook receiver that answers nothing until released: the message it holds stays
    claimed by its sender."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.arrived.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return Response(status_code=503)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.mark.postgres
def test_a_killed_worker_process_gives_its_claims_up_on_postgresql(
        tmp_path: Path, pg_database: str) -> None:
    """``kill -9`` of an ``incident-contacts worker`` in the middle of a send: the worker
    running here sends the message at once, though the dead one's lease has most of its
    minute to go (and this worker's clock never moves). On one host the dead process id tells;
    from another host its presence lock would (the test above)."""
    key = data_key()
    here = make_runtime(pg_database, key=key)
    [message_id] = enqueue(here, 1)
    receiver = _Hanging()
    with served(receiver.app()) as url:
        log = (tmp_path / "worker.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "incident_contacts", "worker", "--database", pg_database],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            env={**os.environ, "INCIDENT_CONTACTS_DATA_KEY": key,
                 "INCIDENT_CONTACTS_WEBHOOK_URL": url + "/hook"})
        memory = MemoryTransport()
        worker = DeliveryWorker(here, transports_of(memory), poll_interval=0.05,
                                liveness_interval=0.05)
        try:
            assert receiver.arrived.wait(30), (tmp_path / "worker.log").read_text()
            with here.store.transaction(write=False) as conn:
                holder = conn.execute(sa.select(outbox_table.c.claimed_by)).scalar_one()
            assert holder is not None and holder.split(":")[1] == str(process.pid)
            process.kill()
            process.wait(15)
            worker.start()
            _wait_for(memory, 1)
        finally:
            worker.stop()
            if process.poll() is None:
                process.kill()
                process.wait(15)
            log.close()
            receiver.release.set()
            here.close()
    assert [m.message_id for m in memory.sent] == [message_id]
