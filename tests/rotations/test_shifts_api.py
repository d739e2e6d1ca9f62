"""ListRotationShifts and ListPreviewRotationShifts on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import DAILY, at, error, people, rotation, shift_tuples, when

COVERAGE = {
    "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, "DailySettings": [at(9)],
    "ShiftCoverages": {day: [{"Start": at(1), "End": at(23)}] for day in ("MON", "WED", "FRI")},
}
WEEKLY = {
    "NumberOfOnCalls": 2, "RecurrenceMultiplier": 1,
    "WeeklySettings": [{"DayOfWeek": "WED", "HandOffTime": at(4, 25)},
                       {"DayOfWeek": "FRI", "HandOffTime": at(15, 57)}],
}


def all_pages(call: Any, **params: Any) -> tuple[list[dict[str, Any]], int]:
    shifts: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = call(**params)
        pages += 1
        shifts += page["RotationShifts"]
        if "NextToken" not in page:
            return shifts, pages
        params["NextToken"] = page["NextToken"]


def test_daily_with_coverage_through_the_api(backend: Any) -> None:
    client = backend.client()
    a, b, c = people(client, "a", "b", "c")
    arn = rotation(client, [a, b, c], COVERAGE, StartTime=when(2024, 1, 1))
    shifts = client.list_rotation_shifts(RotationId=arn, StartTime=when(2024, 1, 1),
                                         EndTime=when(2024, 1, 8))["RotationShifts"]
    assert shift_tuples(shifts) == [
        (when(2024, 1, d, h0).timestamp(), when(2024, 1, d, h1).timestamp(), (who,),
         "REGULAR", ())
        for d, h0, h1, who in [(1, 1, 9, a), (1, 9, 23, b), (3, 1, 9, c), (3, 9, 23, a),
                               (5, 1, 9, b), (5, 9, 23, c)]
    ]
    assert all("ShiftDetails" not in s for s in shifts)


def test_shifts_are_paged_without_loss_or_repeat(backend: Any) -> None:
    client = backend.client()
    members = people(client, "a", "b", "c", "d")
    arn = rotation(client, members, WEEKLY, StartTime=when(2023, 12, 20, 7),
                   TimeZoneId="Europe/Berlin")
    client.create_rotation_override(RotationId=arn, NewContactIds=[members[3]],
                                    StartTime=when(2024, 3, 30), EndTime=when(2024, 4, 2))
    window = {"RotationId": arn, "StartTime": when(2024, 1, 1), "EndTime": when(2024, 7, 1)}
    whole = client.list_rotation_shifts(**window)["RotationShifts"]
    assert len(whole) > 50
    assert any(s["Type"] == "OVERRIDDEN" for s in whole)
    for size in (1, 7, 50):
        paged, pages = all_pages(client.list_rotation_shifts, MaxResults=size, **window)
        assert shift_tuples(paged) == shift_tuples(whole)
        assert pages == -(-len(whole) // size)
    assert [s["ContactIds"] for s in whole[:2]] != [s["ContactIds"] for s in whole[1:3]]


def test_start_time_defaults_to_now_and_end_must_follow_start(backend: Any) -> None:
    client = backend.client()
    arn = rotation(client, people(client, "a", "b"), StartTime=when(2020, 1, 1))
    shifts = client.list_rotation_shifts(RotationId=arn, EndTime=when(2100, 1, 1),
                                         MaxResults=1)["RotationShifts"]
    # the shift in effect now: a daily shift that has begun and not ended
    assert len(shifts) == 1
    now = backend.advance(0)
    assert shifts[0]["StartTime"].timestamp() <= now < shifts[0]["EndTime"].timestamp()
    for end in (when(2024, 1, 1), when(2024, 1, 1, 0, 0, 1)):
        with pytest.raises(ClientError) as caught:
            client.list_rotation_shifts(RotationId=arn, StartTime=when(2024, 1, 1, 0, 0, 1),
                                        EndTime=end)
        assert error(caught)["Fields"][0]["Name"] == "EndTime"


def test_later_pages_keep_the_first_pages_now(backend: Any) -> None:
    """Without StartTime a listing starts at the first page's now; its tokens carry that
    instant, so a page asked for later continues the same listing, even once now is past
    EndTime. (A preview's absent RotationStartTime takes the same instant.)"""
    client = backend.client()
    arn = rotation(client, people(client, "a", "b"), StartTime=when(2020, 1, 1))
    preview = {"Members": ["ana", "bo", "cy"], "TimeZoneId": "Europe/Berlin",
               "Recurrence": {**DAILY, "NumberOfOnCalls": 1}, "RotationStartTime": when(2020, 1, 1)}
    listings = ((client.list_rotation_shifts, {"RotationId": arn}),
                (client.list_preview_rotation_shifts, preview))
    for call, params in listings:
        params["EndTime"] = backend.advance(0) + 5 * 86400
        whole = call(**params)["RotationShifts"]
        assert len(whole) >= 5
        first = call(MaxResults=2, **params)
        backend.advance(10 * 86400)
        rest, _ = all_pages(call, MaxResults=2, NextToken=first["NextToken"], **params)
        assert first["RotationShifts"] + rest == whole


def test_no_shifts_before_the_rotation_starts(backend: Any) -> None:
    client = backend.client()
    arn = rotation(client, people(client, "a"), StartTime=when(2030, 1, 1, 12))
    shifts = client.list_rotation_shifts(RotationId=arn, StartTime=when(2029, 1, 1),
                                         EndTime=when(2030, 1, 2))["RotationShifts"]
    assert [(s["StartTime"], s["EndTime"]) for s in shifts] == [
        (when(2030, 1, 1, 12), when(2030, 1, 2, 9))]
    assert client.list_rotation_shifts(RotationId=arn, StartTime=when(2029, 1, 1),
                                       EndTime=when(2030, 1, 1))["RotationShifts"] == []


@pytest.mark.parametrize(
    ("recurrence", "zone"),
    [(DAILY, "America/Los_Angeles"), (WEEKLY, "Europe/Berlin"), (COVERAGE, "Asia/Seoul"),
     ({"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
       "MonthlySettings": [{"DayOfMonth": 31, "HandOffTime": at(9)},
                           {"DayOfMonth": 13, "HandOffTime": at(12, 34)}]}, "UTC")],
)
def test_preview_gives_the_stored_rotations_shifts(backend: Any, recurrence: dict[str, Any],
                                                   zone: str) -> None:
    client = backend.client()
    members = people(client, "a", "b", "c")
    start = when(2024, 2, 27, 13, 7)
    arn = rotation(client, members, recurrence, StartTime=start, TimeZoneId=zone)
    spans = [(when(2024, 3, 9), when(2024, 3, 11), [members[2]]),
             (when(2024, 3, 10, 12), when(2024, 3, 10, 13), []),
             (when(2024, 4, 1), when(2024, 4, 3), [members[0], members[1]])]
    for low, high, who in spans:
        client.create_rotation_override(RotationId=arn, NewContactIds=who, StartTime=low,
                                        EndTime=high)
    window = {"StartTime": when(2024, 3, 1), "EndTime": when(2024, 6, 1)}
    stored, _ = all_pages(client.list_rotation_shifts, RotationId=arn, MaxResults=25, **window)
    preview, _ = all_pages(
        client.list_preview_rotation_shifts, RotationStartTime=start, Members=members,
        TimeZoneId=zone, Recurrence=recurrence, MaxResults=25,
        Overrides=[{"NewMembers": who, "StartTime": low, "EndTime": high}
                   for low, high, who in spans],
        **window)
    assert len(stored) > 3
    assert shift_tuples(preview) == shift_tuples(stored)


def test_preview_needs_no_stored_resources(backend: Any) -> None:
    client = backend.client()
    result = client.list_preview_rotation_shifts(
        RotationStartTime=when(2024, 1, 1), StartTime=when(2024, 1, 1),
        EndTime=when(2024, 1, 3), Members=["Ana Lopez", "bob@example.com"],
        TimeZoneId="UTC", Recurrence=DAILY,
        Overrides=[{"NewMembers": ["bob@example.com"], "StartTime": when(2024, 1, 1, 2),
                    "EndTime": when(2024, 1, 1, 3)}])
    assert shift_tuples(result["RotationShifts"]) == [
        (when(2024, 1, 1).timestamp(), when(2024, 1, 1, 2).timestamp(), ("Ana Lopez",),
         "REGULAR", ()),
        (when(2024, 1, 1, 2).timestamp(), when(2024, 1, 1, 3).timestamp(), ("bob@example.com",),
         "OVERRIDDEN", ("Ana Lopez",)),
        (when(2024, 1, 1, 3).timestamp(), when(2024, 1, 1, 9).timestamp(), ("Ana Lopez",),
         "REGULAR", ()),
        (when(2024, 1, 1, 9).timestamp(), when(2024, 1, 2, 9).timestamp(), ("bob@example.com",),
         "REGULAR", ()),
        (when(2024, 1, 2, 9).timestamp(), when(2024, 1, 3, 9).timestamp(), ("Ana Lopez",),
         "REGULAR", ()),
    ]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"TimeZoneId": "PST"}, "TimeZoneId"),
        ({"Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}}, "Recurrence"),
        ({"Overrides": [{"NewMembers": ["carol"], "StartTime": when(2024, 1, 1),
                         "EndTime": when(2024, 1, 2)}]}, "Overrides[0].NewMembers[0]"),
        ({"Overrides": [{"NewMembers": ["ana"], "StartTime": when(2024, 1, 1)}]},
         "Overrides[0].EndTime"),
        ({"Overrides": [{"NewMembers": ["ana"], "StartTime": when(2024, 1, 2),
                         "EndTime": when(2024, 1, 1)}]}, "Overrides[0].EndTime"),
        ({"StartTime": when(2024, 2, 1)}, "EndTime"),
        ({"StartTime": when(2024, 1, 3)}, "EndTime"),
    ],
)
def test_preview_validation(backend: Any, extra: dict[str, Any], field: str) -> None:
    client = backend.client()
    params = {"RotationStartTime": when(2024, 1, 1), "StartTime": when(2024, 1, 1),
              "EndTime": when(2024, 1, 3),
              "Members": ["ana"], "TimeZoneId": "UTC", "Recurrence": DAILY, **extra}
    with pytest.raises(ClientError) as caught:
        client.list_preview_rotation_shifts(**params)
    body = error(caught)
    assert body["Error"]["Code"] == "ValidationException"
    assert body["Fields"][0]["Name"] == field


def test_a_preview_token_serves_only_the_preview_it_came_from(backend: Any) -> None:
    """Paging a preview with the same parameters goes on where it stopped; the token with
    another window, members or recurrence is refused (it used to start the other preview at
    its instant, listing shifts months before the StartTime asked for)."""
    client = backend.client()
    params: dict[str, Any] = {
        "RotationStartTime": when(2024, 1, 1), "StartTime": when(2024, 1, 1),
        "EndTime": when(2024, 1, 6), "Members": ["ana", "bob"], "TimeZoneId": "UTC",
        "Recurrence": DAILY}
    whole = client.list_preview_rotation_shifts(**params)["RotationShifts"]
    paged, pages = all_pages(client.list_preview_rotation_shifts, MaxResults=2, **params)
    assert (shift_tuples(paged), pages) == (shift_tuples(whole), 3)
    token = client.list_preview_rotation_shifts(MaxResults=1, **params)["NextToken"]
    for changed in ({"StartTime": when(2024, 6, 1), "EndTime": when(2024, 6, 3)},
                    {"Members": ["carol"]}, {"TimeZoneId": "Asia/Tokyo"},
                    {"Recurrence": {**DAILY, "RecurrenceMultiplier": 2}}):
        with pytest.raises(ClientError) as caught:
            client.list_preview_rotation_shifts(**{**params, **changed}, NextToken=token)
        assert error(caught)["Fields"][0]["Name"] == "NextToken", changed
