"""The delivery worker, one round at a time (``deliver_due``) and as a thread (DeliveryWorker),
with a MemoryTransport and a clock that moves only when told."""

from __future__ import annotations

import base64
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import (
    DeliveryResult,
    MemoryTransport,
    OutgoingMessage,
    RetryableDeliveryError,
    Transport,
)
from incident_contacts.engine import delivery
from incident_contacts.engine import presence as worker_presence
from incident_contacts.engine.delivery import (
    DeliveryWorker,
    Outcome,
    RetryPolicy,
    deliver_due,
    scrub,
)
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_runtime
from incident_contacts.service import outbox
from incident_contacts.service.context import Caller, RequestContext
from incident_contacts.store.schema.delivery import delivery_attempts
from incident_contacts.store.schema.delivery import outbox as outbox_table

START = 1_700_000_000.0
ADDRESS = "+15005550199"


# -- helpers, also used by the other delivery test modules ------------------------------------


def data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def make_runtime(database: str = "sqlite://", *, clock: ManualClock | None = None,
                 key: str | None = None) -> Runtime:
    settings = Settings(database=database, data_key=key, workers=False)
    return build_runtime(settings, clock or ManualClock(START))


def enqueue(runtime: Runtime, count: int = 1, *, channel_type: str = "SMS",
            address: str = ADDRESS, purpose: str = "ACTIVATION") -> list[str]:
    """Queue messages the way an API call does: in one transaction, waking delivery after."""
    with runtime.store.transaction() as conn:
        ctx = RequestContext(Caller("111122223333", "us-east-1"), conn, runtime, "Test", "t")
        ids = [
            outbox.enqueue(ctx, outbox.NewMessage(
                channel_arn="arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/a/b",
                channel_type=channel_type,
                address=address,
                purpose=purpose,
                subject="Subject" if channel_type == "EMAIL" else None,
                body=f"Your Incident Manager activation code is 00{n:04d}.",
                speech="zero, zero" if channel_type == "VOICE" else None,
                code=f"00{n:04d}",
                page_arn="arn:aws:ssm-contacts:us-east-1:111122223333:page/a/p"
                if purpose == "PAGE" else None,
            ))
            for n in range(count)
        ]
    for hook in ctx.after_commit:
        hook()
    return ids


def message_row(runtime: Runtime, message_id: str) -> Row[Any]:
    with runtime.store.transaction(write=False) as conn:
        return conn.execute(
            sa.select(outbox_table).where(outbox_table.c.message_id == message_id)
        ).one()


def attempt_rows(runtime: Runtime, message_id: str) -> list[Row[Any]]:
    with runtime.store.transaction(write=False) as conn:
        return list(conn.execute(
            sa.select(delivery_attempts)
            .join(outbox_table, outbox_table.c.id == delivery_attempts.c.message_pk)
            .where(outbox_table.c.message_id == message_id)
            .order_by(delivery_attempts.c.id)
        ).all())


def transports_of(transport: Transport) -> dict[str, Transport]:
    return {"SMS": transport, "VOICE": transport, "EMAIL": transport}


# -- one round --------------------------------------------------------------------------------


def test_a_due_message_is_sent_and_recorded(runtime: Runtime, memory: MemoryTransport,
                                            clock: ManualClock) -> None:
    [message_id] = enqueue(runtime, channel_type="VOICE")

    assert deliver_due(runtime, transports_of(memory), "w1") == 1

    [sent] = memory.sent
    assert sent == OutgoingMessage(message_id, "VOICE", ADDRESS, None,
                                   "Your Incident Manager activation code is 000000.",
                                   "zero, zero", purpose="ACTIVATION",
                                   expires_in=runtime.settings.activation_code_ttl)
    row = message_row(runtime, message_id)
    assert (row.status, row.attempts, row.sent_at) == ("SENT", 1, clock.now())
    assert row.provider_message_id == "mem-1"
    assert row.claimed_by is None and row.claimed_until is None and row.last_error is None
    [attempt] = attempt_rows(runtime, message_id)
    assert (attempt.attempt, attempt.outcome, attempt.detail, attempt.worker) == \
        (1, "SENT", "mem-1", "w1")
    assert deliver_due(runtime, transports_of(memory), "w1") == 0
    assert len(memory.sent) == 1


def test_fails_twice_then_succeeds(runtime: Runtime, memory: MemoryTransport,
                                   clock: ManualClock) -> None:
    """One delivery, three attempts recorded, retried after about 2 s and then 4 s."""
    memory.fail_next(2, reason="provider unavailable")
    [message_id] = enqueue(runtime)
    transports = transports_of(memory)

    assert deliver_due(runtime, transports, "w1") == 1
    first = message_row(runtime, message_id)
    assert (first.status, first.attempts, first.last_error) == \
        ("PENDING", 1, "provider unavailable")
    assert START + 1.6 <= first.next_attempt_at <= START + 2.4
    assert deliver_due(runtime, transports, "w1") == 0  # not due yet
    assert memory.attempts == 1

    clock.advance(first.next_attempt_at - clock.now())
    assert deliver_due(runtime, transports, "w1") == 1
    second = message_row(runtime, message_id)
    assert second.attempts == 2
    assert clock.now() + 3.2 <= second.next_attempt_at <= clock.now() + 4.8

    clock.advance(second.next_attempt_at - clock.now())
    assert deliver_due(runtime, transports, "w1") == 1

    assert memory.attempts == 3
    assert len(memory.sent) == 1
    final = message_row(runtime, message_id)
    assert (final.status, final.attempts, final.last_error) == ("SENT", 3, None)
    assert [(a.attempt, a.outcome) for a in attempt_rows(runtime, message_id)] == \
        [(1, "RETRY"), (2, "RETRY"), (3, "SENT")]
    assert attempt_rows(runtime, message_id)[0].detail == "provider unavailable"


def test_backoff_doubles_and_the_message_fails_after_the_last_attempt(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    memory.fail_next(100)
    [message_id] = enqueue(runtime)
    delays = []
    for _ in range(8):
        assert deliver_due(runtime, transports_of(memory), "w1") == 1
        row = message_row(runtime, message_id)
        if row.status != "PENDING":
            break
        delays.append(row.next_attempt_at - clock.now())
        clock.advance(delays[-1])
    for n, delay in enumerate(delays):
        nominal = 2.0 * 2**n
        assert nominal * 0.8 <= delay <= nominal * 1.2, (n, delay)
    assert len(delays) == 7
    row = message_row(runtime, message_id)
    assert (row.status, row.attempts) == ("FAILED", 8)
    assert row.last_error == "gave up after 8 attempts: simulated failure"
    assert [a.outcome for a in attempt_rows(runtime, message_id)] == ["RETRY"] * 7 + ["FAILED"]
    clock.advance(3600)
    assert deliver_due(runtime, transports_of(memory), "w1") == 0


def test_backoff_is_capped_at_five_minutes() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    assert all(240.0 <= policy.delay(n, rng) <= 300.0 for n in range(9, 200))
    assert policy.delay(1, rng, retry_after=90.0) >= 90.0
    assert policy.delay(1, rng, retry_after=10_000.0) == 300.0


def test_error_texts_never_hold_the_address(runtime: Runtime, memory: MemoryTransport,
                                            clock: ManualClock) -> None:
    """Provider errors are stored in plain; the address they often repeat is personal data."""
    memory.fail_next(1, reason=f"The 'To' number {ADDRESS} is unreachable", retryable=True)
    memory.fail_next(1, reason=f"21614 '{ADDRESS[1:]}' is not a mobile number",
                     retryable=False)
    [message_id] = enqueue(runtime)

    deliver_due(runtime, transports_of(memory), "w1")
    clock.advance(600)
    deliver_due(runtime, transports_of(memory), "w1")

    row = message_row(runtime, message_id)
    details = [a.detail for a in attempt_rows(runtime, message_id)]
    assert row.status == "FAILED"
    for text in [row.last_error, *details]:
        assert ADDRESS[1:] not in text
        assert "<delivery address>" in text


@pytest.mark.parametrize("echoed", [
    "550 <AKUA@EXAMPLE.COM> mailbox unavailable",      # an SMTP server's capitals
    "bounced: akua%40example.com",                     # percent-encoded
    "forwarded to kofi@example.net, refused",          # another address altogether
])
def test_error_texts_lose_every_form_of_an_address(echoed: str) -> None:
    scrubbed = scrub(echoed, "akua@example.com")
    assert "example" not in scrubbed.lower()
    assert "<delivery address>" in scrubbed


def test_a_permanent_error_fails_at_once(runtime: Runtime, memory: MemoryTransport) -> None:
    memory.fail_next(1, reason="21211 invalid 'To' number", retryable=False)
    [message_id] = enqueue(runtime)

    deliver_due(runtime, transports_of(memory), "w1")

    row = message_row(runtime, message_id)
    assert (row.status, row.attempts, row.last_error) == \
        ("FAILED", 1, "21211 invalid 'To' number")
    assert [a.outcome for a in attempt_rows(runtime, message_id)] == ["FAILED"]


def test_a_providers_retry_after_is_honoured(runtime: Runtime, memory: MemoryTransport,
                                             clock: ManualClock) -> None:
    memory.fail_next_with(RetryableDeliveryError("429 too many requests", retry_after=60))
    [message_id] = enqueue(runtime)
    deliver_due(runtime, transports_of(memory), "w1")
    assert message_row(runtime, message_id).next_attempt_at >= clock.now() + 60


def test_a_live_claim_is_respected_and_an_expired_one_is_taken(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    [message_id] = enqueue(runtime)
    with runtime.store.transaction() as conn:
        conn.execute(outbox_table.update().values(claimed_by="crashed",
                                                   claimed_until=clock.now() + 30))

    assert deliver_due(runtime, transports_of(memory), "w1") == 0
    clock.advance(31)
    assert deliver_due(runtime, transports_of(memory), "w1") == 1
    assert message_row(runtime, message_id).status == "SENT"
    assert attempt_rows(runtime, message_id)[0].worker == "w1"


def test_stopping_gives_claimed_messages_back(runtime: Runtime, memory: MemoryTransport) -> None:
    ids = enqueue(runtime, 3)
    stopping = threading.Event()
    stopping.set()

    deliver_due(runtime, transports_of(memory), "w1", stopping=stopping)

    assert memory.attempts == 0
    rows = [message_row(runtime, i) for i in ids]
    assert [(r.status, r.claimed_by, r.attempts) for r in rows] == [("PENDING", None, 0)] * 3
    assert deliver_due(runtime, transports_of(memory), "w2") == 3


def test_a_message_sealed_under_another_key_fails_cleanly(tmp_path: Path,
                                                          memory: MemoryTransport) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    writer = make_runtime(database, key=data_key())
    [message_id] = enqueue(writer)
    writer.close()
    reader = make_runtime(database, key=data_key())
    try:
        assert deliver_due(reader, transports_of(memory), "w1") == 1
        row = message_row(reader, message_id)
    finally:
        reader.close()
    assert memory.attempts == 0
    assert row.status == "FAILED"
    assert "could not be decrypted with this server's data keys" in row.last_error


def test_a_channel_type_without_transport_fails(runtime: Runtime, memory: MemoryTransport) -> None:
    [message_id] = enqueue(runtime, channel_type="EMAIL", address="akua@example.com")
    deliver_due(runtime, {"SMS": memory}, "w1")
    row = message_row(runtime, message_id)
    assert (row.status, row.last_error) == ("FAILED", "no transport is configured for EMAIL")


class _Broken:
    def send(self, message: OutgoingMessage) -> DeliveryResult:
        raise KeyError("oops")


def test_a_transport_bug_is_retried_not_raised(runtime: Runtime) -> None:
    [message_id] = enqueue(runtime)
    deliver_due(runtime, transports_of(_Broken()), "w1")
    row = message_row(runtime, message_id)
    assert (row.status, row.attempts) == ("PENDING", 1)
    assert row.last_error == "unexpected KeyError: 'oops'"


# -- the on_delivered hooks -------------------------------------------------------------------


def test_hooks_run_in_the_recording_transaction_for_final_outcomes(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    seen: list[tuple[str, str, str | None, str]] = []

    def hook(conn: Connection, row: Row[Any], outcome: Outcome) -> None:
        assert conn.in_transaction()
        status = conn.execute(
            sa.select(outbox_table.c.status).where(outbox_table.c.id == row.id)
        ).scalar_one()
        seen.append((row.message_id, outcome.status, outcome.error, status))

    memory.fail_next(1)                                   # a retry: no hook
    memory.fail_next(1, reason="bad number", retryable=False)
    [retried, failed] = enqueue(runtime, 2)
    transports = transports_of(memory)
    deliver_due(runtime, transports, "w1", hooks=[hook])
    assert seen == [(failed, "FAILED", "bad number", "FAILED")]

    clock.advance(10)
    deliver_due(runtime, transports, "w1", hooks=[hook])
    assert seen[1:] == [(retried, "SENT", None, "SENT")]


def test_the_registry_is_used_and_a_failing_hook_keeps_the_outcome(
        runtime: Runtime, memory: MemoryTransport) -> None:
    def faulty(conn: Connection, row: Row[Any], outcome: Outcome) -> None:
        conn.execute(outbox_table.update().where(outbox_table.c.id == row.id)
                     .values(last_error="written by the hook"))
        raise RuntimeError("hook bug")

    [message_id] = enqueue(runtime, purpose="PAGE")
    delivery.on_delivered.append(faulty)
    try:
        deliver_due(runtime, transports_of(memory), "w1")
    finally:
        delivery.on_delivered.remove(faulty)

    row = message_row(runtime, message_id)
    assert (row.status, row.last_error) == ("SENT", None)  # the hook's write was undone
    assert len(memory.sent) == 1


# -- the worker thread -------------------------------------------------------------------------


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_worker_resumes_pending_messages_and_is_woken_by_new_ones(
        tmp_path: Path, memory: MemoryTransport) -> None:
    runtime = make_runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", key=data_key())
    enqueue(runtime, 2)                                    # queued before the worker runs
    # A poll interval far longer than the test: only the start and the wake-up can deliver.
    worker = DeliveryWorker(runtime, transports_of(memory), poll_interval=600)
    worker.start()
    try:
        _wait_for(lambda: len(memory.sent) == 2)
        started = time.monotonic()
        [message_id] = enqueue(runtime)                     # wakes the worker after commit
        _wait_for(lambda: len(memory.sent) == 3)
        assert time.monotonic() - started < 2.0
        _wait_for(lambda: message_row(runtime, message_id).status == "SENT")
    finally:
        worker.stop()
        runtime.close()
    assert worker._thread is None


def test_the_worker_retries_on_its_poll(tmp_path: Path, memory: MemoryTransport) -> None:
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", clock=clock, key=data_key())
    memory.fail_next(1)
    worker = DeliveryWorker(runtime, transports_of(memory), poll_interval=0.05)
    worker.start()
    try:
        [message_id] = enqueue(runtime)
        _wait_for(lambda: memory.attempts == 1)
        time.sleep(0.2)                                     # polls, but the retry is not due
        assert memory.attempts == 1
        clock.advance(5)
        _wait_for(lambda: message_row(runtime, message_id).status == "SENT")
        assert message_row(runtime, message_id).attempts == 2
        assert (memory.attempts, len(memory.sent)) == (2, 1)
    finally:
        worker.stop()
        runtime.close()


def test_wake_ups_reach_only_the_loop_whose_work_was_queued(runtime: Runtime) -> None:
    """A queued message wakes the delivery worker and not the engine; a scheduled engine step
    the engine and not delivery; a listener of both hears both."""
    heard: list[str] = []
    runtime.on_wake(lambda: heard.append("delivery"), topics=("delivery",))
    runtime.on_wake(lambda: heard.append("engine"), topics=("engine",))
    runtime.on_wake(lambda: heard.append("both"))
    enqueue(runtime)
    assert heard == ["delivery", "both"]
    heard.clear()
    runtime.wake_engine()
    assert heard == ["engine", "both"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_claims_of_dead_workers_are_given_back_at_start(tmp_path: Path) -> None:
    """After a kill -9, the rows its worker had claimed are sent at once by the next worker
    on the same SQLite file, not a minute later when the claim runs out; a live process's
    claims, and ids of another form (among them those of versions before pid namespace marks,
    whose process ids cannot be placed), are left alone."""
    namespace = worker_presence.pid_namespace()
    if namespace is None:
        pytest.skip("this system does not show its pid namespace (/proc)")
    runtime = make_runtime(f"sqlite:///{tmp_path / 'claims.db'}")
    try:
        dead, alive, foreign, unplaced = enqueue(runtime, 4)
        host = socket.gethostname()[:32]
        holders = {dead: f"{host}:{_dead_pid()}:{namespace}:deadbeef",
                   alive: f"{host}:{os.getppid()}:{namespace}:cafe0001",
                   foreign: "worker-7",
                   unplaced: f"{host}:{_dead_pid()}:deadbee2"}
        with runtime.store.transaction() as conn:
            for message_id, holder in holders.items():
                conn.execute(outbox_table.update()
                             .where(outbox_table.c.message_id == message_id)
                             .values(claimed_by=holder, claimed_until=START + 60))
        memory = MemoryTransport()
        worker = DeliveryWorker(runtime, {"SMS": memory}, poll_interval=0.05)
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while not memory.sent and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)
        finally:
            worker.stop()
        assert [m.message_id for m in memory.sent] == [dead]
    finally:
        runtime.close()
