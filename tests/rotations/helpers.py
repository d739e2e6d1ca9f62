"""Shared builders for the rotation tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def when(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> dict[str, int]:
    return {"HourOfDay": hour, "MinuteOfHour": minute}


DAILY = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, "DailySettings": [at(9)]}


def people(client: Any, *aliases: str) -> list[str]:
    return [
        client.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        for alias in aliases
    ]


def rotation(client: Any, members: list[str], recurrence: dict[str, Any] | None = None,
             **extra: Any) -> str:
    arn: str = client.create_rotation(
        Name=extra.pop("Name", "primary"),
        ContactIds=members,
        TimeZoneId=extra.pop("TimeZoneId", "UTC"),
        Recurrence=recurrence or DAILY,
        **extra,
    )["RotationArn"]
    return arn


def error(caught: Any) -> dict[str, Any]:
    """The parsed error response of a botocore ClientError."""
    response: dict[str, Any] = caught.value.response
    return response


def shift_tuples(shifts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (s["StartTime"].timestamp(), s["EndTime"].timestamp(), tuple(s.get("ContactIds", [])),
         s.get("Type"), tuple((s.get("ShiftDetails") or {}).get("OverriddenContactIds", [])))
        for s in shifts
    ]
