"""A person acknowledges (or the engagement stops) while a worker is sending one of their
page messages right now (claimed, still PENDING): the message that went out is recorded as
sent, and one whose attempt fails is not sent again afterwards."""

from __future__ import annotations

import base64
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import sqlalchemy as sa

from incident_contacts.api import replies
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import delivery
from incident_contacts.engine import runner as runtime_engine
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service import outbox
from incident_contacts.service.context import Caller
from incident_contacts.store.schema.engagements import pages
from incident_contacts.testing import mock as mock_module
from incident_contacts.testing.mock import SsmContactsMock, mock_ssm_contacts

PHONE = "+15005550199"
BUSY = "busy-worker"


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> MemoryTransport:
    transport = MemoryTransport()
    monkeypatch.setitem(mock_module._MOCK_TRANSPORTS, "SMS", transport)
    return transport


@pytest.fixture
def contacts() -> Iterator[SsmContactsMock]:
    with mock_ssm_contacts() as active:
        yield active


def _page_being_sent(contacts: SsmContactsMock, memory: MemoryTransport
                     ) -> tuple[Any, str, str, Any]:
    """(client, engagement ARN, page ARN, row): the page's first attempt failed, and a
    worker of another process has just claimed its retry and is sending it."""
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    person = client.create_contact(Alias="akua", Type="PERSONAL",
                                   Plan={"Stages": []})["ContactArn"]
    channel = client.create_contact_channel(
        ContactId=person, Name="phone", Type="SMS",
        DeliveryAddress={"SimpleAddress": PHONE})["ContactChannelArn"]
    [code] = contacts.messages(channel)
    client.activate_contact_channel(ContactChannelId=channel,
                                    ActivationCode=code["ActivationCode"])
    client.update_contact(ContactId=person, Plan={"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]})
    memory.fail_next(1)                    # a provider outage: the page waits for a retry
    engagement = client.start_engagement(ContactId=person, Sender="ops", Subject="disk",
                                         Content="full")["EngagementArn"]
    [page] = client.list_pages_by_engagement(EngagementId=engagement)["Pages"]
    assert [m["DeliveryStatus"] for m in contacts.messages(channel)][-1] == "PENDING"
    runtime = contacts.runtime
    assert runtime is not None
    runtime.clock.advance(600)             # type: ignore[attr-defined]  # no work run
    [row] = delivery._claim(runtime, BUSY, 10)
    assert row.page_arn == page["PageArn"]
    return client, engagement, page["PageArn"], row


def _finish(runtime: Runtime, memory: MemoryTransport, row: Any) -> None:
    """The busy worker's attempt ends and is recorded, as deliver_due records it."""
    attempted = delivery._deliver_one(runtime, {"SMS": memory}, row,
                                      delivery.DEFAULT_POLICY, random.Random(7))
    delivery._record(runtime, BUSY, [attempted], delivery.on_delivered)


def _acknowledge(client: Any, engagement: str, page: str) -> None:
    client.accept_page(PageId=page, AcceptType="READ", AcceptCode="000000")


def _stop(client: Any, engagement: str, page: str) -> None:
    client.stop_engagement(EngagementId=engagement, Reason="resolved")


CANCELS: list[Callable[[Any, str, str], None]] = [_acknowledge, _stop]


@pytest.mark.parametrize("cancel", CANCELS, ids=["acknowledged", "stopped"])
def test_a_page_sent_while_it_was_cancelled_is_recorded_as_sent(
        contacts: SsmContactsMock, memory: MemoryTransport,
        cancel: Callable[[Any, str, str], None]) -> None:
    client, engagement, page, row = _page_being_sent(contacts, memory)
    cancel(client, engagement, page)
    assert contacts.runtime is not None
    _finish(contacts.runtime, memory, row)           # it went out

    assert len(memory.sent) == 2                     # the code, then the page
    [message] = [m for m in contacts.messages() if m.get("PageArn") == page]
    assert message["DeliveryStatus"] == "SENT"
    assert "SentTime" in client.describe_page(PageId=page)
    types = [r["ReceiptType"] for r in
             client.list_page_receipts(PageId=page)["Receipts"]]
    assert "SENT" in types


@pytest.mark.parametrize("cancel", CANCELS, ids=["acknowledged", "stopped"])
def test_a_page_whose_attempt_fails_while_it_was_cancelled_is_not_sent_again(
        contacts: SsmContactsMock, memory: MemoryTransport,
        cancel: Callable[[Any, str, str], None]) -> None:
    client, engagement, page, row = _page_being_sent(contacts, memory)
    cancel(client, engagement, page)
    memory.fail_next(1)
    assert contacts.runtime is not None
    _finish(contacts.runtime, memory, row)           # the outage goes on

    contacts.run_due()                               # failed at once, not after a backoff
    [message] = [m for m in contacts.messages() if m.get("PageArn") == page]
    assert message["DeliveryStatus"] == "FAILED"
    contacts.clock.advance(3600)                     # past every backoff
    assert len(memory.sent) == 1                     # the code only
    assert "SentTime" not in client.describe_page(PageId=page)
    receipts = client.list_page_receipts(PageId=page)["Receipts"]
    # Withdrawn, not lost to the provider: its READ or STOP receipt, and no ERROR after it.
    assert [r["ReceiptType"] for r in receipts] == ["READ" if cancel is _acknowledge
                                                    else "STOP"]


# -- PostgreSQL: the acknowledgement and the worker's record of the same page, side by side --


CALLER = Caller("111122223333", "us-east-1")


@pytest.fixture
def pg_runtime(pg_database: str) -> Iterator[tuple[Runtime, Dispatcher]]:
    key = base64.b64encode(os.urandom(32)).decode()
    runtime = build_runtime(Settings(database=pg_database, data_key=key, workers=False,
                                     throttle_rate=0))
    runtime_engine.install()
    yield runtime, build_dispatcher(runtime)
    runtime.close()


@pytest.mark.postgres
def test_a_key_press_while_the_pages_outcome_is_recorded_takes_no_deadlock(
        pg_runtime: tuple[Runtime, Dispatcher]) -> None:
    """The worker records a page's SENT (the row, then the page's SentTime) while its person
    acknowledges it (the page's read time, then the person's waiting messages): both finish,
    and the page keeps its SENT receipt."""
    runtime, dispatcher = pg_runtime
    memory = MemoryTransport()
    person = dispatcher.call(CALLER, "CreateContact", {
        "Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]
    channel = dispatcher.call(CALLER, "CreateContactChannel", {
        "ContactId": person, "Name": "phone", "Type": "SMS",
        "DeliveryAddress": {"SimpleAddress": PHONE}})["ContactChannelArn"]
    with runtime.store.transaction(write=False) as conn:
        [code] = outbox.list_messages(conn, runtime, channel_arn=channel)
    dispatcher.call(CALLER, "ActivateContactChannel", {
        "ContactChannelId": channel, "ActivationCode": code["ActivationCode"]})
    dispatcher.call(CALLER, "UpdateContact", {"ContactId": person, "Plan": {"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]}})
    delivery.deliver_due(runtime, {"SMS": memory}, "w", hooks=[])    # the code
    engagement = dispatcher.call(CALLER, "StartEngagement", {
        "ContactId": person, "Sender": "ops", "Subject": "disk", "Content": "full"})
    runtime_engine.run_all_due(runtime, "engine")
    [page] = dispatcher.call(CALLER, "ListPagesByEngagement", {
        "EngagementId": engagement["EngagementArn"]})["Pages"]
    [row] = delivery._claim(runtime, BUSY, 10)
    attempted = delivery._deliver_one(runtime, {"SMS": memory}, row,
                                      delivery.DEFAULT_POLICY, random.Random(7))
    assert attempted.outcome.status == "SENT"

    settled = threading.Event()

    def pause(conn: Any, row: Any, outcome: Any) -> None:
        settled.set()
        time.sleep(0.5)       # the acknowledgement meanwhile waits for what it needs

    accepted: list[Any] = []

    def acknowledge() -> None:
        """A key pressed during the call (the Twilio webhook's path: no retry)."""
        settled.wait(10)
        try:
            with runtime.store.transaction() as conn:
                fresh = conn.execute(sa.select(pages).where(
                    pages.c.page_id == page["PageArn"].rsplit("/", 1)[1])).one()
                accepted.append(replies.read(runtime, conn, fresh, note=None,
                                             info="Pressed 1 during the call"))
        except Exception as exc:      # the test reports it
            accepted.append(exc)

    thread = threading.Thread(target=acknowledge)
    thread.start()
    delivery._record(runtime, BUSY, [attempted], [pause, runtime_engine.record_delivery])
    thread.join(30)

    assert accepted == [True]
    described = dispatcher.call(CALLER, "DescribePage", {"PageId": page["PageArn"]})
    assert "SentTime" in described and "ReadTime" in described
    receipts = dispatcher.call(CALLER, "ListPageReceipts", {"PageId": page["PageArn"]})
    assert sorted(r["ReceiptType"] for r in receipts["Receipts"]) == ["READ", "SENT"]
