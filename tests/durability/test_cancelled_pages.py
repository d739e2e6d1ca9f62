"""A page cancelled while a delivery worker holds its message (its person acknowledged, or its
engagement stopped, between the worker's claim and the record of its attempt), whose attempt
then fails: no ERROR receipt. The page was withdrawn, not lost to a provider: its READ or STOP
receipt says what became of it, as for a page cancelled while no worker held it (failed at
once, with no receipt). ERROR receipts mean a delivery that failed (aws-ssm-contacts.md §6.3)
and drive the page's retries; after a stop or an acknowledgement neither applies.

Run on a SQLite file and on PostgreSQL, through the dispatcher and the worker's own steps."""

from __future__ import annotations

import base64
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine import delivery, timers
from incident_contacts.engine import runner as engine_runner
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service import outbox as outbox_messages
from incident_contacts.service.context import Caller
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import engine_timers

CALLER = Caller("111122223333", "us-east-1")
PHONE = "+15005550199"
HOLDER = "busy-worker"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[Runtime, Dispatcher]]:
    database = (f"sqlite:///{tmp_path / 'pages.db'}" if request.param == "sqlite"
                else request.getfixturevalue("pg_database"))
    runtime = build_runtime(Settings(database=database, workers=False, throttle_rate=0,
                                     data_key=base64.b64encode(os.urandom(32)).decode()))
    engine_runner.install()
    yield runtime, build_dispatcher(runtime)
    runtime.close()


class Scene:
    """A person with one SMS channel, engaged; the page's message claimed by a worker."""

    def __init__(self, runtime: Runtime, dispatcher: Dispatcher) -> None:
        self.runtime, self.dispatcher = runtime, dispatcher
        self.memory = MemoryTransport()
        person = self.call("CreateContact", {"Alias": "akua", "Type": "PERSONAL",
                                             "Plan": {"Stages": []}})["ContactArn"]
        channel = self.call("CreateContactChannel", {
            "ContactId": person, "Name": "phone", "Type": "SMS",
            "DeliveryAddress": {"SimpleAddress": PHONE}})["ContactChannelArn"]
        with runtime.store.transaction(write=False) as conn:
            [code] = outbox_messages.list_messages(conn, runtime, channel_arn=channel)
        self.call("ActivateContactChannel", {"ContactChannelId": channel,
                                             "ActivationCode": code["ActivationCode"]})
        self.call("UpdateContact", {"ContactId": person, "Plan": {"Stages": [{
            "DurationInMinutes": 0, "Targets": [{"ChannelTargetInfo": {
                "ContactChannelId": channel, "RetryIntervalInMinutes": 1}}]}]}})
        delivery.deliver_due(runtime, self.transports, "w", hooks=[])      # the code
        self.engagement = self.call("StartEngagement", {
            "ContactId": person, "Sender": "ops", "Subject": "disk",
            "Content": "full"})["EngagementArn"]
        engine_runner.run_all_due(runtime, "engine")
        [page] = self.call("ListPagesByEngagement",
                           {"EngagementId": self.engagement})["Pages"]
        self.page = page["PageArn"]
        [self.row] = delivery._claim(runtime, HOLDER, 10)
        assert self.row.page_arn == self.page

    @property
    def transports(self) -> dict[str, Any]:
        return {"SMS": self.memory}

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.dispatcher.call(CALLER, operation, params)
        return result

    def attempt(self) -> None:
        """The holder's attempt ends and is recorded, as ``deliver_due`` records it."""
        attempted = delivery._deliver_one(self.runtime, self.transports, self.row,
                                          delivery.DEFAULT_POLICY, random.Random(7))
        delivery._record(self.runtime, HOLDER, [attempted], delivery.on_delivered)

    def receipts(self) -> list[tuple[str, str | None]]:
        return [(r["ReceiptType"], r.get("ReceiptInfo")) for r in
                self.call("ListPageReceipts", {"PageId": self.page})["Receipts"]]

    def message(self) -> Any:
        with self.runtime.store.transaction(write=False) as conn:
            return conn.execute(sa.select(outbox).where(outbox.c.id == self.row.id)).one()

    def retries_waiting(self) -> int:
        with self.runtime.store.transaction(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(engine_timers)
                                    .where(engine_timers.c.kind == timers.RETRY)).scalar_one())


def _acknowledge(scene: Scene) -> str:
    scene.call("AcceptPage", {"PageId": scene.page, "AcceptType": "READ",
                              "AcceptCode": "000000"})
    return "READ"


def _stop(scene: Scene) -> str:
    scene.call("StopEngagement", {"EngagementId": scene.engagement, "Reason": "resolved"})
    return "STOP"


@pytest.mark.parametrize("retryable", [False, True], ids=["permanent", "retryable"])
@pytest.mark.parametrize("cancel", [_acknowledge, _stop], ids=["acknowledged", "stopped"])
def test_a_cancelled_page_whose_held_attempt_fails_gets_no_error_receipt(
        service: tuple[Runtime, Dispatcher], cancel: Any, retryable: bool) -> None:
    scene = Scene(*service)
    receipt = cancel(scene)
    scene.memory.fail_next(1, reason="provider down", retryable=retryable)
    scene.attempt()
    # A retryable failure is due again at once (the cancel's expiry), and failed unsent.
    delivery.deliver_due(scene.runtime, scene.transports, "w")
    engine_runner.run_all_due(scene.runtime, "engine")

    message = scene.message()
    assert message.status == "FAILED"
    assert message.claimed_by is None
    assert [m.purpose for m in scene.memory.sent] == ["ACTIVATION"]     # the page never went
    assert [kind for kind, _info in scene.receipts()] == [receipt]
    assert "SentTime" not in scene.call("DescribePage", {"PageId": scene.page})
    assert scene.retries_waiting() == 0


def test_a_page_not_cancelled_whose_attempt_fails_keeps_its_error_receipt(
        service: tuple[Runtime, Dispatcher]) -> None:
    scene = Scene(*service)
    scene.memory.fail_next(1, reason="number unreachable", retryable=False)
    scene.attempt()
    assert scene.message().status == "FAILED"
    assert scene.receipts() == [("ERROR", "number unreachable")]
    assert scene.retries_waiting() == 1          # RetryIntervalInMinutes: paged again later
