"""Limits counted before the write they limit, raced on PostgreSQL: two servers (two
dispatchers, each with its own connection pool) on one database at READ COMMITTED, calls
released together at the limit. Each test repeats its race over fresh resources; without the
locks of ``store.locks`` each goes over the limit within its first rounds."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.config import Settings
from incident_contacts.errors import ServiceError
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.context import Caller
from tests.store.test_postgres_races import together

pytestmark = pytest.mark.postgres

QUOTA = 3
ROUNDS = 6
CALLS = 8       # calls released together in each round
DAILY = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
         "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}


@pytest.fixture
def servers(pg_database: str) -> Iterator[list[Dispatcher]]:
    key = base64.b64encode(os.urandom(32)).decode()
    runtimes = [build_runtime(Settings(database=pg_database, data_key=key, workers=False,
                                       throttle_rate=0, quota_contacts=QUOTA,
                                       quota_rotations=QUOTA))
                for _ in range(2)]
    yield [build_dispatcher(runtime) for runtime in runtimes]
    for runtime in runtimes:
        runtime.close()


def fresh_account(round_: int) -> Caller:
    """A caller of its own for each round: its quotas start from nothing."""
    return Caller(f"{400000000000 + round_:012d}", "us-east-1")


def errors(results: list[Any]) -> list[str]:
    return [r.code for r in results if isinstance(r, ServiceError)]


def contact(servers: list[Dispatcher], caller: Caller, alias: str, **extra: Any) -> str:
    arn: str = servers[0].call(caller, "CreateContact", {
        "Alias": alias, "Type": "PERSONAL", "Plan": {"Stages": []}, **extra})["ContactArn"]
    return arn


def test_contacts_created_together_at_the_quota_never_pass_it(
        servers: list[Dispatcher]) -> None:
    """One place is left under the contacts quota and several servers create a contact at
    once: exactly one gets it, the others a ServiceQuotaExceededException."""
    for round_ in range(ROUNDS):
        caller = fresh_account(round_)
        for n in range(QUOTA - 1):
            contact(servers, caller, f"kept-{n}")
        results = together(CALLS, lambda n, caller=caller: servers[n % 2].call(
            caller, "CreateContact", {"Alias": f"racer-{n}", "Type": "PERSONAL",
                                      "Plan": {"Stages": []}}))
        listed = servers[1].call(caller, "ListContacts", {})["Contacts"]
        assert len(listed) == QUOTA, (round_, [c["Alias"] for c in listed], results)
        assert sorted(errors(results)) == ["ServiceQuotaExceededException"] * (CALLS - 1), (
            round_, results)


def test_rotations_created_together_at_the_quota_never_pass_it(
        servers: list[Dispatcher]) -> None:
    for round_ in range(ROUNDS):
        caller = fresh_account(100 + round_)
        member = contact(servers, caller, "member")

        def create(n: int, caller: Caller = caller, member: str = member) -> Any:
            return servers[n % 2].call(caller, "CreateRotation", {
                "Name": f"rotation {n}", "ContactIds": [member], "TimeZoneId": "UTC",
                "Recurrence": DAILY})

        for n in range(QUOTA - 1):
            create(n)
        results = together(CALLS, create)
        listed = servers[1].call(caller, "ListRotations", {})["Rotations"]
        assert len(listed) == QUOTA, (round_, len(listed), results)
        assert sorted(errors(results)) == ["ServiceQuotaExceededException"] * (CALLS - 1), (
            round_, results)


def test_tags_added_together_never_pass_fifty_on_a_resource(
        servers: list[Dispatcher]) -> None:
    """A contact with 46 tags, and eight TagResource calls of one new key each at once: four
    are taken and four refused, never all eight (54 tags)."""
    for round_ in range(ROUNDS):
        caller = fresh_account(200 + round_)
        arn = contact(servers, caller, f"tagged-{round_}",
                      Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(46)])
        results = together(CALLS, lambda n, caller=caller, arn=arn: servers[n % 2].call(
            caller, "TagResource", {"ResourceARN": arn,
                                    "Tags": [{"Key": f"new{n}", "Value": "v"}]}))
        kept = servers[1].call(caller, "ListTagsForResource", {"ResourceARN": arn})["Tags"]
        assert len(kept) == 50, (round_, len(kept), results)
        assert sorted(errors(results)) == ["ServiceQuotaExceededException"] * 4, (
            round_, results)
