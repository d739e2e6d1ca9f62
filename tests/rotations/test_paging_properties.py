"""Property: ListRotationShifts, paged any way, gives the pure computation's shifts.

The service loads only the overrides near the window and computes in growing stretches, so
this checks that no page boundary, stretch boundary or override outside the window changes a
shift. In-process only: it is about the service's arithmetic, not the transport.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_contacts.oncall.recurrence import Override, Recurrence, shifts
from incident_contacts.testing import mock_ssm_contacts

from .helpers import shift_tuples

DAY = 86400
BASE = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
_accounts = itertools.count(100000000000)

times = st.fixed_dictionaries({"HourOfDay": st.sampled_from([0, 2, 9, 23]),
                               "MinuteOfHour": st.sampled_from([0, 30])})


@st.composite
def recurrences(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["DailySettings", "WeeklySettings", "MonthlySettings"]))
    if kind == "DailySettings":
        entry: st.SearchStrategy[Any] = times
    elif kind == "WeeklySettings":
        entry = st.fixed_dictionaries({"DayOfWeek": st.sampled_from(["MON", "WED", "SUN"]),
                                       "HandOffTime": times})
    else:
        entry = st.fixed_dictionaries({"DayOfMonth": st.sampled_from([1, 15, 31]),
                                       "HandOffTime": times})
    wire: dict[str, Any] = {"NumberOfOnCalls": draw(st.integers(1, 2)),
                            "RecurrenceMultiplier": draw(st.integers(1, 2)),
                            kind: draw(st.lists(entry, min_size=1, max_size=2))}
    if draw(st.booleans()):
        wire["ShiftCoverages"] = {"MON": [{"Start": {"HourOfDay": 1, "MinuteOfHour": 0},
                                           "End": {"HourOfDay": 23, "MinuteOfHour": 0}}],
                                  "THU": [{}]}
    return wire


@pytest.fixture(scope="module")
def mock() -> Iterator[Any]:
    with mock_ssm_contacts() as active:
        yield active


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    recurrence=recurrences(),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/Los_Angeles"]),
    member_count=st.integers(1, 3),
    start=st.integers(BASE, BASE + 60 * DAY),
    low=st.integers(BASE - 10 * DAY, BASE + 120 * DAY),
    length=st.integers(1, 25 * DAY),
    # (start relative to the window's start, length): many begin or end just outside it
    override_spans=st.lists(st.tuples(st.integers(-6 * DAY, 26 * DAY),
                                      st.integers(3600, 6 * DAY)), max_size=4),
    page_size=st.integers(1, 6),
)
def test_paged_shifts_equal_the_pure_computation(
    mock: Any, recurrence: dict[str, Any], zone: str, member_count: int, start: int, low: int,
    length: int, override_spans: list[tuple[int, int]], page_size: int,
) -> None:
    client = boto3.client("ssm-contacts", region_name="us-east-1",
                          aws_access_key_id=str(next(_accounts)), aws_secret_access_key="x")
    members = [client.create_contact(Alias=f"m{k}", Type="PERSONAL",
                                     Plan={"Stages": []})["ContactArn"]
               for k in range(member_count)]
    arn = client.create_rotation(Name="r", ContactIds=members, TimeZoneId=zone,
                                 Recurrence=recurrence, StartTime=start)["RotationArn"]
    stored: list[Override] = []
    for number, (offset, o_length) in enumerate(override_spans):
        o_start = low + offset
        chosen = members[number % member_count:][:1]
        client.create_rotation_override(RotationId=arn, NewContactIds=chosen, StartTime=o_start,
                                        EndTime=o_start + o_length)
        stored.append(Override(float(o_start), float(o_start + o_length), tuple(chosen)))
    expected = shifts(members, Recurrence.from_wire(recurrence), zone, start, low, low + length,
                      stored)
    got: list[dict[str, Any]] = []
    params: dict[str, Any] = {"RotationId": arn, "StartTime": low, "EndTime": low + length,
                              "MaxResults": page_size}
    while True:
        page = client.list_rotation_shifts(**params)
        assert len(page["RotationShifts"]) <= page_size
        got += page["RotationShifts"]
        if "NextToken" not in page:
            break
        params["NextToken"] = page["NextToken"]
    assert shift_tuples(got) == [
        (s.start, s.end, s.contact_ids, s.type, s.overridden_contact_ids or ())
        for s in expected
    ]
