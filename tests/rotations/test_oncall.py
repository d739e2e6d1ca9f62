"""Who is on call now: the functions the engagement engine calls (service/oncall.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import sqlalchemy as sa

from incident_contacts.service.oncall import on_call_contacts, schedule_on_call
from incident_contacts.store.schema.core import contacts
from incident_contacts.testing import mock_ssm_contacts

from .helpers import at, people, rotation, when


@pytest.fixture
def mock() -> Iterator[Any]:
    with mock_ssm_contacts() as active:
        yield active


@pytest.fixture
def client(mock: Any) -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1")


def read(mock: Any, fn: Any, *args: Any) -> Any:
    with mock.runtime.store.transaction(write=False) as conn:
        return fn(conn, *args)


def test_on_call_contacts_follows_shifts_and_overrides(mock: Any, client: Any) -> None:
    a, b, c = people(client, "a", "b", "c")
    arn = rotation(client, [a, b, c], {
        "NumberOfOnCalls": 2, "RecurrenceMultiplier": 1, "DailySettings": [at(9)],
        "ShiftCoverages": {day: [{"Start": at(8), "End": at(20)}]
                           for day in ("MON", "TUE", "WED", "THU", "FRI")},
    }, StartTime=when(2024, 1, 1), TimeZoneId="Europe/Berlin")
    client.create_rotation_override(RotationId=arn, NewContactIds=[c],
                                    StartTime=when(2024, 1, 2, 12), EndTime=when(2024, 1, 2, 13))
    # Berlin is UTC+1 in January: coverage 07:00-19:00 UTC, hand-off 08:00 UTC
    assert read(mock, on_call_contacts, arn, when(2024, 1, 1, 7, 30).timestamp()) == [a, b]
    assert read(mock, on_call_contacts, arn, when(2024, 1, 1, 8).timestamp()) == [c, a]
    assert read(mock, on_call_contacts, arn, when(2024, 1, 1, 20).timestamp()) == []
    assert read(mock, on_call_contacts, arn, when(2024, 1, 2, 12, 30).timestamp()) == [c]
    assert read(mock, on_call_contacts, arn, when(2024, 1, 2, 13).timestamp()) == [b, c]
    assert read(mock, on_call_contacts, arn, when(2024, 1, 6, 12).timestamp()) == []  # Sat
    assert read(mock, on_call_contacts, arn, when(2023, 12, 31).timestamp()) == []


def test_on_call_contacts_of_a_missing_rotation_is_empty(mock: Any, client: Any) -> None:
    arn = rotation(client, people(client, "a"))
    client.delete_rotation(RotationId=arn)
    assert read(mock, on_call_contacts, arn, when(2030, 1, 1).timestamp()) == []
    assert read(mock, on_call_contacts, "arn:aws:ssm-contacts:us-east-1:1:contact/a", 0.0) == []


def schedule_row(conn: Any, alias: str) -> Any:
    return conn.execute(sa.select(contacts).where(contacts.c.alias == alias)).one()


def test_schedule_on_call_is_the_union_of_its_rotations(mock: Any, client: Any) -> None:
    a, b, c = people(client, "a", "b", "c")
    first = rotation(client, [a, b], StartTime=when(2024, 1, 1), Name="first")
    second = rotation(client, [b, c], {"NumberOfOnCalls": 2, "RecurrenceMultiplier": 1,
                                       "DailySettings": [at(9)]},
                      StartTime=when(2024, 1, 1), Name="second")
    client.create_contact(Alias="sched", Type="ONCALL_SCHEDULE",
                          Plan={"RotationIds": [first, second]})
    instant = when(2024, 1, 1, 12).timestamp()   # first: b; second: b, c
    with mock.runtime.store.transaction(write=False) as conn:
        # b is on call in both: listed once, with the first rotation of the plan
        assert schedule_on_call(conn, schedule_row(conn, "sched"), instant) == [
            (first, b), (second, c)]
        assert schedule_on_call(conn, {"RotationIds": [second, first]}, instant) == [
            (second, b), (second, c)]
        assert schedule_on_call(conn, {"Stages": []}, instant) == []
    client.delete_rotation(RotationId=second)
    with mock.runtime.store.transaction(write=False) as conn:
        assert schedule_on_call(conn, schedule_row(conn, "sched"), instant) == [(first, b)]
