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


def test_updating_a_rotation_keeps_a_concurrent_change_of_its_time_zone(
        servers: list[Dispatcher]) -> None:
    """UpdateRotation changes only the members it is given: one that leaves out TimeZoneId,
    serving at the same moment as one that sets it, never puts the old zone back."""
    person = servers[0].call(CALLER, "CreateContact", {
        "Alias": "kofi", "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]

    def daily(hour: int) -> dict[str, Any]:
        return {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                "DailySettings": [{"HourOfDay": hour, "MinuteOfHour": 0}]}

    rotation = servers[0].call(CALLER, "CreateRotation", {
        "Name": "primary", "ContactIds": [person], "TimeZoneId": "UTC",
        "Recurrence": daily(9)})["RotationArn"]
    zones = ["Europe/Paris", "Asia/Tokyo"]
    for trial in range(30):
        zone = zones[trial % 2]
        calls = [{"RotationId": rotation, "TimeZoneId": zone, "Recurrence": daily(9)},
                 {"RotationId": rotation, "Recurrence": daily(10 + trial % 2)}]
        outcomes = together(2, lambda n, calls=calls: servers[n].call(
            CALLER, "UpdateRotation", calls[n]))
        assert not any(isinstance(o, ServiceError) for o in outcomes), outcomes
        stored = servers[1].call(CALLER, "GetRotation", {"RotationId": rotation})
        assert stored["TimeZoneId"] == zone, (trial, stored["TimeZoneId"])


def new_person(servers: list[Dispatcher], alias: str) -> str:
    arn: str = servers[0].call(CALLER, "CreateContact", {
        "Alias": alias, "Type": "PERSONAL", "Plan": {"Stages": []}})["ContactArn"]
    return arn


def codes(outcomes: list[Any]) -> list[str]:
    """Each outcome as its error code, or "ok"."""
    return [o.code if isinstance(o, ServiceError) else "ok" for o in outcomes]


def test_tags_added_while_their_contact_is_deleted_do_not_outlive_it(
        servers: list[Dispatcher]) -> None:
    """TagResource racing DeleteContact either tags the contact before it goes (and the tags
    go with it) or finds it gone: a contact made later with the same alias starts untagged."""
    for trial in range(24):
        alias = f"short-lived-{trial}"
        arn = new_person(servers, alias)

        def race(n: int, arn: str = arn) -> Any:
            if n == 0:
                return servers[0].call(CALLER, "DeleteContact", {"ContactId": arn})
            return servers[n % 2].call(CALLER, "TagResource", {
                "ResourceARN": arn, "Tags": [{"Key": f"team{n}", "Value": "payments"}]})

        outcomes = together(4, race)
        assert set(codes(outcomes)) <= {"ok", "ResourceNotFoundException"}, outcomes
        assert codes(outcomes)[0] == "ok", outcomes
        inherited = servers[1].call(CALLER, "ListTagsForResource", {
            "ResourceARN": new_person(servers, alias)})["Tags"]
        assert inherited == [], (trial, inherited, outcomes)


def test_a_duplicate_channel_added_at_the_same_time_names_the_channel_it_repeats(
        servers: list[Dispatcher]) -> None:
    """Several servers add the same address to one contact at once: one channel is made,
    and each other call's ConflictException names it, as when the calls come one by one."""
    owner = new_person(servers, "owner")
    for trial in range(6):
        address = f"{uuid.uuid4().hex[:10]}@example.com"
        outcomes = together(8, lambda n, address=address: servers[n % 2].call(
            CALLER, "CreateContactChannel", {
                "ContactId": owner, "Name": f"mail {n}", "Type": "EMAIL",
                "DeliveryAddress": {"SimpleAddress": address}, "DeferActivation": True}))
        made = [o["ContactChannelArn"] for o in outcomes if not isinstance(o, ServiceError)]
        assert len(made) == 1, (trial, outcomes)
        assert [(o.code, o.members.get("ResourceId"), o.members.get("ResourceType"))
                for o in outcomes if isinstance(o, ServiceError)] == [
            ("ConflictException", made[0], "CONTACT_CHANNEL")] * 7, (trial, outcomes)


def test_a_channel_added_while_its_contact_is_deleted_finds_no_contact(
        servers: list[Dispatcher]) -> None:
    """CreateContactChannel racing DeleteContact: the channel is added before the contact
    goes (with it), or the call finds no contact (a ValidationException, as this operation
    models no ResourceNotFoundException); never a ConflictException about an address."""
    for trial in range(30):
        person = new_person(servers, f"leaving-{trial}")
        calls = [("DeleteContact", {"ContactId": person}),
                 ("CreateContactChannel", {
                     "ContactId": person, "Name": "mail", "Type": "EMAIL",
                     "DeliveryAddress": {"SimpleAddress": "leaving@example.com"},
                     "DeferActivation": True})]
        outcomes = together(2, lambda n, calls=calls: servers[n].call(CALLER, *calls[n]))
        assert codes(outcomes) in (["ok", "ok"], ["ok", "ValidationException"]), (
            trial, outcomes)


def test_an_override_added_while_its_rotation_is_deleted_finds_no_rotation(
        servers: list[Dispatcher]) -> None:
    """CreateRotationOverride racing DeleteRotation: the override is made before the rotation
    goes, or the call finds no rotation (ResourceNotFoundException); never a
    ValidationException that the rotation's own member is not one."""
    person = new_person(servers, "yaw")
    for trial in range(40):
        rotation = servers[0].call(CALLER, "CreateRotation", {
            "Name": f"r{trial}", "ContactIds": [person], "TimeZoneId": "UTC",
            "Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                           "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
        })["RotationArn"]

        def race(n: int, rotation: str = rotation) -> Any:
            if n == 0:
                return servers[0].call(CALLER, "DeleteRotation", {"RotationId": rotation})
            return servers[n % 2].call(CALLER, "CreateRotationOverride", {
                "RotationId": rotation, "NewContactIds": [person],
                "StartTime": 2_000_000_000.0 + n * 3600, "EndTime": 2_000_003_600.0 + n * 3600})

        outcomes = together(6, race)
        assert codes(outcomes)[0] == "ok", (trial, outcomes)
        assert set(codes(outcomes)) <= {"ok", "ResourceNotFoundException"}, (trial, outcomes)
