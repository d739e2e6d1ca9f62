"""Races that only PostgreSQL lets happen: two servers (here two dispatchers, each with its own
connection pool) on one database, serving calls side by side."""

from __future__ import annotations

import base64
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.config import Settings
from incident_contacts.errors import ServiceError
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.context import Caller

pytestmark = pytest.mark.postgres

CALLER = Caller("111122223333", "us-east-1")


@pytest.fixture
def servers(pg_database: str) -> Iterator[list[Dispatcher]]:
    key = base64.b64encode(os.urandom(32)).decode()
    runtimes = [build_runtime(Settings(database=pg_database, data_key=key, workers=False,
                                       throttle_rate=0))
                for _ in range(2)]
    yield [build_dispatcher(runtime) for runtime in runtimes]
    for runtime in runtimes:
        runtime.close()


def together(count: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(n)`` for n in range(count), all released at once; results or the errors."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = call(n)
        except ServiceError as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_call_sent_again_with_its_token_gets_the_first_answer(
        servers: list[Dispatcher]) -> None:
    """An SDK retrying a create (same token, same parameters) while the first try still runs
    gets the first try's answer from either server, never a ConflictException."""
    contact = servers[0].call(CALLER, "CreateContact", {
        "Alias": "owner", "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]
    for _ in range(4):
        token, alias = str(uuid.uuid4()), "c" + uuid.uuid4().hex[:8]
        created = together(12, lambda n, token=token, alias=alias: servers[n % 2].call(
            CALLER, "CreateContact", {"Alias": alias, "Type": "PERSONAL",
                                      "Plan": {"Stages": []}, "IdempotencyToken": token}))
        assert {str(r) if isinstance(r, ServiceError) else r["ContactArn"]
                for r in created} == {contact.replace("/owner", f"/{alias}")}, created
        token = str(uuid.uuid4())
        added = together(12, lambda n, token=token: servers[n % 2].call(
            CALLER, "CreateContactChannel", {
                "ContactId": contact, "Name": "n" + token[:6], "Type": "EMAIL",
                "DeliveryAddress": {"SimpleAddress": f"{token[:8]}@example.com"},
                "DeferActivation": True, "IdempotencyToken": token}))
        arns = {str(r) if isinstance(r, ServiceError) else r["ContactChannelArn"]
                for r in added}
        assert len(arns) == 1 and next(iter(arns)).startswith("arn:"), added


def test_deleting_a_rotation_keeps_a_concurrent_change_to_a_schedule(
        servers: list[Dispatcher]) -> None:
    """DeleteRotation removes the rotation from every schedule; an UpdateContact of one of
    them at the same moment is never undone by it."""
    person = servers[0].call(CALLER, "CreateContact", {
        "Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]

    def new_rotation() -> str:
        arn: str = servers[0].call(CALLER, "CreateRotation", {
            "Name": "r" + uuid.uuid4().hex[:6], "ContactIds": [person], "TimeZoneId": "UTC",
            "Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                           "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
        })["RotationArn"]
        return arn

    for trial in range(30):
        first, second, third = new_rotation(), new_rotation(), new_rotation()
        schedule = servers[0].call(CALLER, "CreateContact", {
            "Alias": f"schedule-{trial}", "Type": "ONCALL_SCHEDULE",
            "Plan": {"RotationIds": [first, second]}})["ContactArn"]
        calls = [("DeleteRotation", {"RotationId": first}),
                 ("UpdateContact", {"ContactId": schedule,
                                    "Plan": {"RotationIds": [second, third]}})]
        outcomes = together(2, lambda n, calls=calls: servers[n].call(CALLER, *calls[n]))
        assert not any(isinstance(o, ServiceError) for o in outcomes), outcomes
        plan = servers[1].call(CALLER, "GetContact", {"ContactId": schedule})["Plan"]
        assert plan["RotationIds"] == [second, third], (trial, plan)
