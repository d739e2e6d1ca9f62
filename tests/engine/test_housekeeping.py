"""Housekeeping: delivered and failed messages go after the retention period, with their
attempt records; pending messages stay whatever their age. Idempotency records go after their
24-hour window, console sessions once expired."""

from __future__ import annotations

import dataclasses
import time

import orjson
import pytest
import sqlalchemy as sa

from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import housekeeping
from incident_contacts.engine.delivery import deliver_due
from incident_contacts.engine.housekeeping import (
    Housekeeper,
    keep_house,
    prune_console_sessions,
    prune_idempotency,
    prune_outbox,
)
from incident_contacts.server import build_dispatcher, build_workers
from incident_contacts.store.schema.console import console_sessions
from incident_contacts.store.schema.core import idempotency
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
    """The server runs it at start and every ten minutes, whatever the outbox retention."""
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
        # A retention of 0 keeps the messages, not the idempotency records or sessions.
        runtime.settings = Settings(database=runtime.settings.database,
                                    outbox_retention_days=0)
        assert any(isinstance(w, Housekeeper) for w in build_workers(runtime, {}))
    finally:
        runtime.close()


# -- idempotency records ------------------------------------------------------------------------

ACCOUNT = "111122223333"


def call(dispatcher, operation: str, params: dict) -> tuple[int, dict]:
    headers = {
        "x-amz-target": f"SSMContacts.{operation}",
        "authorization": f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20231114/us-east-1/"
                         "ssm-contacts/aws4_request, SignedHeaders=host, Signature=0",
    }
    response = dispatcher.handle("POST", "/", headers, orjson.dumps(params))
    return response.status, orjson.loads(response.body)


def tokens(runtime) -> set[str]:
    with runtime.store.transaction(write=False) as conn:
        return set(conn.execute(sa.select(idempotency.c.token)).scalars())


def create(dispatcher, alias: str, token: str) -> tuple[int, dict]:
    return call(dispatcher, "CreateContact", {"Alias": alias, "Type": "PERSONAL",
                                              "Plan": {"Stages": []}, "IdempotencyToken": token})


@pytest.mark.parametrize("batch", [1000, 2])
def test_idempotency_records_go_when_their_window_has_passed(tmp_path, batch) -> None:
    """boto3 sends a token with every CreateContact, CreateContactChannel and StartEngagement:
    each left a row with its whole answer, for good. Past the 24-hour window a retry runs
    again anyway, so the row serves nothing and goes; one inside it still answers a retry."""
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'h.db'}", clock=clock)
    dispatcher = build_dispatcher(runtime)
    try:
        for n in range(3):
            assert create(dispatcher, f"old-{n}", f"old-{n}")[0] == 200
        clock.advance(20 * 3600)
        status, young = create(dispatcher, "young", "young")
        assert status == 200 and tokens(runtime) == {"old-0", "old-1", "old-2", "young"}

        clock.advance(4 * 3600 + 1)               # the first three are just over 24 hours old
        assert prune_idempotency(runtime, batch=batch) == 3
        assert tokens(runtime) == {"young"}
        assert prune_idempotency(runtime, batch=batch) == 0
        # the young token still answers its retry with the first answer
        assert create(dispatcher, "young", "young") == (200, young)

        clock.advance(20 * 3600)
        assert prune_idempotency(runtime, batch=batch) == 1 and tokens(runtime) == set()
    finally:
        runtime.close()


def test_expired_console_sessions_go(tmp_path) -> None:
    """A sign-in deletes expired sessions on its way; a console nobody signs in to again
    kept them, each naming an account and an access key id."""
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'h.db'}", clock=clock)
    try:
        with runtime.store.transaction() as conn:
            for n, lifetime in enumerate((3600, 7200, 8 * 3600)):
                conn.execute(console_sessions.insert().values(
                    token_hash=f"{n:064d}", account=ACCOUNT, region="us-east-1",
                    access_key_id=None, created_at=START, expires_at=START + lifetime))
        clock.advance(7200)                       # the second expires at this very moment
        assert prune_console_sessions(runtime) == 2
        with runtime.store.transaction(write=False) as conn:
            left = conn.execute(sa.select(console_sessions.c.token_hash)).scalars().all()
        assert left == [f"{2:064d}"]
    finally:
        runtime.close()


def test_one_kind_failing_leaves_the_others_to_run(tmp_path, monkeypatch, caplog) -> None:
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'h.db'}", clock=clock)
    dispatcher = build_dispatcher(runtime)
    try:
        assert create(dispatcher, "a", "a")[0] == 200
        clock.advance(2 * DAY)

        def broken(_runtime, **_kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(housekeeping, "prune_outbox", broken)
        keep_house(runtime)
        assert tokens(runtime) == set()
        assert "housekeeping: broken failed" in caplog.text
    finally:
        runtime.close()
