"""An activation message knows when its code expires (``outbox.expires_at``), and the worker
never hands a message whose code expired to a transport: one round at a time with a clock
that moves only when told, in the in-process mock, and across migration 0012."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from botocore.exceptions import ClientError

from incident_contacts.clock import ManualClock
from incident_contacts.delivery import MemoryTransport, RetryableDeliveryError
from incident_contacts.engine.delivery import EXPIRED_CODE, RetryPolicy, deliver_due
from incident_contacts.runtime import Runtime
from incident_contacts.service import outbox
from incident_contacts.service.context import Caller, RequestContext
from incident_contacts.store import db
from incident_contacts.store.schema.delivery import activation_codes
from incident_contacts.store.schema.delivery import outbox as outbox_table
from incident_contacts.testing import mock as mock_module
from incident_contacts.testing.mock import SsmContactsMock, mock_ssm_contacts
from tests.engine.test_delivery import (
    ADDRESS,
    START,
    attempt_rows,
    data_key,
    make_runtime,
    message_row,
    transports_of,
)

CHANNEL = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/a/b"


def queue(runtime: Runtime, *, expires_at: float | None, purpose: str = "ACTIVATION",
          channel_type: str = "SMS") -> str:
    """One message queued as an API call queues it, with the expiry given."""
    with runtime.store.transaction() as conn:
        ctx = RequestContext(Caller("111122223333", "us-east-1"), conn, runtime, "Test", "t")
        message_id = outbox.enqueue(ctx, outbox.NewMessage(
            channel_arn=CHANNEL, channel_type=channel_type, address=ADDRESS, purpose=purpose,
            body="Your Incident Manager activation code is 004211.", code="004211",
            page_arn=CHANNEL.replace("contact-channel", "page") if purpose == "PAGE" else None,
            expires_at=expires_at))
    return message_id


# -- one round --------------------------------------------------------------------------------


def test_a_message_held_by_a_failing_provider_past_its_code_expiry_is_failed_unsent(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    memory.fail_next(100, reason="provider unavailable")
    message_id = queue(runtime, expires_at=START + 900)
    observed: list[tuple[str, str]] = []

    def observe(channel_type: str, outcome: str) -> None:
        observed.append((channel_type, outcome))

    assert deliver_due(runtime, transports_of(memory), "w1", observe=observe) == 1
    assert message_row(runtime, message_id).status == "PENDING"
    clock.advance(20 * 60)                         # the provider kept failing meanwhile
    memory.clear()                                 # and is back: nothing may reach it now
    assert deliver_due(runtime, transports_of(memory), "w1", observe=observe) == 1

    assert memory.attempts == 0 and memory.sent == []
    row = message_row(runtime, message_id)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == \
        ("FAILED", 2, EXPIRED_CODE, None)
    attempts = attempt_rows(runtime, message_id)
    assert [(a.attempt, a.outcome, a.detail) for a in attempts] == \
        [(1, "RETRY", "provider unavailable"), (2, "FAILED", EXPIRED_CODE)]
    assert attempts[1].started_at == clock.now()
    assert observed == [("SMS", "RETRY"), ("SMS", "FAILED")]
    clock.advance(3600)
    assert deliver_due(runtime, transports_of(memory), "w1") == 0


def test_a_message_no_worker_took_before_its_code_expired_is_never_sent(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    """The server was down (or its workers off) for 20 minutes."""
    message_id = queue(runtime, expires_at=START + 900)
    clock.advance(1200)

    assert deliver_due(runtime, transports_of(memory), "w1") == 1

    assert memory.attempts == 0
    row = message_row(runtime, message_id)
    assert (row.status, row.attempts, row.last_error) == ("FAILED", 1, EXPIRED_CODE)


def test_the_moment_of_expiry_is_already_too_late(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    """As ActivateContactChannel judges the code: expired once the clock reaches it."""
    late = queue(runtime, expires_at=START + 60)
    clock.advance(60)
    deliver_due(runtime, transports_of(memory), "w1")
    assert message_row(runtime, late).status == "FAILED"

    in_time = queue(runtime, expires_at=clock.now() + 0.001)
    deliver_due(runtime, transports_of(memory), "w1")
    assert message_row(runtime, in_time).status == "SENT"
    assert [m.message_id for m in memory.sent] == [in_time]


def test_a_message_sent_in_time_carries_the_rest_of_its_codes_life_from_its_row(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    """The time to live is the row's expiry less now, not the sending process's code lifetime
    counted from the row's creation (here they differ: another process, another setting)."""
    assert runtime.settings.activation_code_ttl == 900
    memory.fail_next(1)
    message_id = queue(runtime, expires_at=START + 120)
    deliver_due(runtime, transports_of(memory), "w1")
    clock.advance(message_row(runtime, message_id).next_attempt_at - clock.now())

    assert deliver_due(runtime, transports_of(memory), "w1") == 1

    [sent] = memory.sent
    assert sent.expires_in == START + 120 - clock.now()
    assert 117 <= sent.expires_in <= 119
    assert message_row(runtime, message_id).status == "SENT"


def test_a_retry_is_never_scheduled_past_the_expiry(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    """A provider asking for five minutes while the code has ten seconds left: the message is
    due again when the code expires, and failed then, not left PENDING for five minutes."""
    memory.fail_next_with(RetryableDeliveryError("slow down", retry_after=300))
    message_id = queue(runtime, expires_at=START + 10)

    deliver_due(runtime, transports_of(memory), "w1")
    assert message_row(runtime, message_id).next_attempt_at == START + 10
    clock.advance(9.999)
    assert deliver_due(runtime, transports_of(memory), "w1") == 0
    clock.advance(0.001)
    assert deliver_due(runtime, transports_of(memory), "w1") == 1

    row = message_row(runtime, message_id)
    assert (row.status, row.last_error) == ("FAILED", EXPIRED_CODE)
    assert memory.attempts == 1 and memory.sent == []


def test_the_backoff_is_kept_while_the_code_lives(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    memory.fail_next(1)
    message_id = queue(runtime, expires_at=START + 900)
    deliver_due(runtime, transports_of(memory), "w1", policy=RetryPolicy(jitter=0.0))
    assert message_row(runtime, message_id).next_attempt_at == START + 2.0


def test_rows_without_an_expiry_are_sent_as_before(
        runtime: Runtime, memory: MemoryTransport, clock: ManualClock) -> None:
    """Pages have none (their time to live stays the transports' own), nor do activation
    messages queued before migration 0012: those are sent, with the time their code had by
    this process's code lifetime."""
    page = queue(runtime, expires_at=None, purpose="PAGE")
    legacy = queue(runtime, expires_at=None)
    clock.advance(1200)

    assert deliver_due(runtime, transports_of(memory), "w1") == 2

    by_id = {m.message_id: m for m in memory.sent}
    assert by_id[page].expires_in is None
    assert by_id[legacy].expires_in == START + 900 - clock.now()
    assert message_row(runtime, page).status == message_row(runtime, legacy).status == "SENT"


# -- through the API, in process ----------------------------------------------------------------


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> MemoryTransport:
    """The mock's SMS transport, failing when told to."""
    memory = MemoryTransport()
    monkeypatch.setitem(mock_module._MOCK_TRANSPORTS, "SMS", memory)
    return memory


@pytest.fixture
def contacts() -> Iterator[SsmContactsMock]:
    with mock_ssm_contacts() as active:
        yield active


def sms_channel(client: Any) -> str:
    contact = client.create_contact(Alias="akua", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    arn: str = client.create_contact_channel(
        ContactId=contact, Name="phone", Type="SMS",
        DeliveryAddress={"SimpleAddress": ADDRESS})["ContactChannelArn"]
    return arn


def test_the_row_carries_the_expiry_written_for_the_code(contacts: SsmContactsMock) -> None:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn = sms_channel(client)
    contacts.clock.advance(30)
    client.send_activation_code(ContactChannelId=arn)

    runtime = contacts.runtime
    assert runtime is not None
    with runtime.store.transaction(write=False) as conn:
        codes = conn.execute(sa.select(activation_codes.c.expires_at)
                             .order_by(activation_codes.c.id)).scalars().all()
        rows = conn.execute(sa.select(outbox_table.c.expires_at)
                            .order_by(outbox_table.c.id)).scalars().all()
    assert rows == codes
    assert rows[1] - rows[0] == 30


def test_the_mock_fails_a_code_its_clock_moved_past_and_never_sends_it(
        contacts: SsmContactsMock, failing: MemoryTransport) -> None:
    failing.fail_next(100)
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn = sms_channel(client)
    [message] = contacts.messages(arn)
    assert message["DeliveryStatus"] == "PENDING"     # the first attempt failed

    contacts.clock.advance(899)                       # a retry, failing again
    assert [m["DeliveryStatus"] for m in contacts.messages(arn)] == ["PENDING"]
    failing.clear()                                   # the provider is back, too late:
    contacts.clock.advance(1)                         # the code expires now

    assert [m["DeliveryStatus"] for m in contacts.messages(arn)] == ["FAILED"]
    assert failing.sent == []
    with pytest.raises(ClientError) as caught:        # the code was dead indeed
        client.activate_contact_channel(ContactChannelId=arn,
                                        ActivationCode=message["ActivationCode"])
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_the_mock_sends_a_held_code_that_still_lives(
        contacts: SsmContactsMock, failing: MemoryTransport) -> None:
    failing.fail_next(1)
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn = sms_channel(client)
    assert [m["DeliveryStatus"] for m in contacts.messages(arn)] == ["PENDING"]

    contacts.clock.advance(3)                          # past the first backoff (2 s ± 20 %)

    [message] = contacts.messages(arn)
    assert message["DeliveryStatus"] == "SENT"
    [sent] = failing.sent
    assert sent.expires_in == 897
    client.activate_contact_channel(ContactChannelId=arn,
                                    ActivationCode=message["ActivationCode"])


# -- migration 0012 -----------------------------------------------------------------------------


def _migrate(runtime: Runtime, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(db._MIGRATIONS))
    with runtime.store.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


@pytest.mark.parametrize("before", ["0011", "0010"])
def test_rows_queued_before_the_migration_stay_pending_and_are_sent(
        tmp_path: Path, memory: MemoryTransport, before: str) -> None:
    """A database at ``before`` with a pending activation message (and its attempt) goes to
    0012: the row has no expiry, stays PENDING, and is sent as it was before."""
    clock = ManualClock(START)
    runtime = make_runtime(f"sqlite:///{tmp_path / 'm.db'}", clock=clock, key=data_key())
    try:
        memory.fail_next(1)
        message_id = queue(runtime, expires_at=None)
        deliver_due(runtime, transports_of(memory), "w1")
        _migrate(runtime, "downgrade", before)
        with runtime.store.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("outbox")}
        assert "expires_at" not in columns

        _migrate(runtime, "upgrade", "head")

        row = message_row(runtime, message_id)
        assert (row.status, row.expires_at, row.attempts) == ("PENDING", None, 1)
        assert [a.outcome for a in attempt_rows(runtime, message_id)] == ["RETRY"]
        clock.advance(row.next_attempt_at - clock.now())
        assert deliver_due(runtime, transports_of(memory), "w1") == 1
        [sent] = memory.sent
        assert sent.expires_in == START + 900 - clock.now()
        assert message_row(runtime, message_id).status == "SENT"
    finally:
        runtime.close()


@pytest.mark.parametrize(("stop", "reason"), [
    ("resend", "not sent: a newer code replaced this one"),
    ("deactivate", "not sent: the channel was deactivated"),
    ("activate", "not sent: the channel was activated"),
    ("guess", "not sent: the code was voided after too many wrong tries"),
])
def test_a_held_code_that_stops_working_is_never_sent(
        contacts: SsmContactsMock, failing: MemoryTransport, stop: str, reason: str) -> None:
    """A code's message held back by a failing provider is not sent once the code is dead:
    replaced by a newer one, its channel deactivated or activated (with another way of
    reading the code), or the code voided by wrong guesses."""
    failing.fail_next(1)
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn = sms_channel(client)
    [held] = contacts.messages(arn)
    assert held["DeliveryStatus"] == "PENDING"
    if stop == "resend":
        client.send_activation_code(ContactChannelId=arn)
    elif stop == "deactivate":
        client.deactivate_contact_channel(ContactChannelId=arn)
    elif stop == "guess":
        wrong = "000000" if held["ActivationCode"] != "000000" else "111111"
        for _ in range(5):                             # the default number of tries
            with pytest.raises(ClientError):
                client.activate_contact_channel(ContactChannelId=arn, ActivationCode=wrong)
    else:
        client.activate_contact_channel(ContactChannelId=arn,
                                        ActivationCode=held["ActivationCode"])
    contacts.clock.advance(600)                        # past every backoff
    statuses = {m["MessageId"]: m["DeliveryStatus"] for m in contacts.messages(arn)}
    assert statuses.pop(held["MessageId"]) == "FAILED"
    assert all(status == "SENT" for status in statuses.values())   # the newer code, if any
    assert [m.body for m in failing.sent] == [
        m["Body"] for m in contacts.messages(arn) if m["MessageId"] in statuses]
    runtime = contacts.runtime
    assert runtime is not None
    with runtime.store.transaction(write=False) as conn:
        assert conn.execute(sa.select(outbox_table.c.last_error).where(
            outbox_table.c.message_id == held["MessageId"])).scalar_one() == reason


def test_a_replaced_code_not_yet_tried_is_still_sent(contacts: SsmContactsMock) -> None:
    """Only a message a failing provider holds back is cancelled when its code dies: one not
    yet tried goes out, so codes sent back to back are all delivered whatever the timing."""
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    arn = sms_channel(client)
    runtime = contacts.runtime
    assert runtime is not None
    with runtime.store.transaction() as conn:      # as if no worker had run yet
        conn.execute(outbox_table.update().values(status="PENDING", attempts=0))
    client.send_activation_code(ContactChannelId=arn)
    assert [m["DeliveryStatus"] for m in contacts.messages(arn)] == ["SENT", "SENT"]
