"""Fixed cases for shift generation: DST, month ends, weekly pairs, coverage, overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from incident_contacts.errors import ValidationException
from incident_contacts.oncall.recurrence import (
    Override,
    Recurrence,
    Shift,
    on_call_at,
    shifts,
    validate_time_zone,
)

from .reference import Reference

LA, BERLIN = "America/Los_Angeles", "Europe/Berlin"
HOUR = 3600.0


def at(hour: int, minute: int = 0) -> dict[str, int]:
    return {"HourOfDay": hour, "MinuteOfHour": minute}


def daily(*times: dict[str, int], on_calls: int = 1, multiplier: int = 1,
          **extra: Any) -> Recurrence:
    return Recurrence.from_wire({"NumberOfOnCalls": on_calls, "RecurrenceMultiplier": multiplier,
                                 "DailySettings": list(times), **extra})


def when(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp()


def wall(zone: str, instant: float) -> str:
    return datetime.fromtimestamp(instant, ZoneInfo(zone)).strftime("%m-%d %H:%M %Z")


def table(zone: str, result: list[Shift]) -> list[tuple[str, str, float, str]]:
    return [(wall(zone, s.start), wall(zone, s.end), (s.end - s.start) / HOUR,
             ",".join(s.contact_ids)) for s in result]


def test_daily_hand_off_in_the_spring_gap_los_angeles() -> None:
    start = when(LA, 2024, 3, 8, 2, 30)
    result = shifts("abc", daily(at(2, 30)), LA, start, start, when(LA, 2024, 3, 12))
    assert table(LA, result) == [
        ("03-08 02:30 PST", "03-09 02:30 PST", 24.0, "a"),
        ("03-09 02:30 PST", "03-10 03:00 PDT", 23.5, "b"),  # 02:30 does not exist: 03:00
        ("03-10 03:00 PDT", "03-11 02:30 PDT", 23.5, "c"),
        ("03-11 02:30 PDT", "03-12 02:30 PDT", 24.0, "a"),
    ]


def test_daily_hand_off_in_the_spring_gap_berlin() -> None:
    start = when(BERLIN, 2024, 3, 29, 2, 30)
    result = shifts("ab", daily(at(2, 30)), BERLIN, start, start, when(BERLIN, 2024, 4, 1))
    assert table(BERLIN, result) == [
        ("03-29 02:30 CET", "03-30 02:30 CET", 24.0, "a"),
        ("03-30 02:30 CET", "03-31 03:00 CEST", 23.5, "b"),
        ("03-31 03:00 CEST", "04-01 02:30 CEST", 23.5, "a"),
    ]


def test_a_repeated_hand_off_time_is_its_first_occurrence() -> None:
    start = when(BERLIN, 2024, 10, 26, 2, 30)
    result = shifts("ab", daily(at(2, 30)), BERLIN, start, start, when(BERLIN, 2024, 10, 28))
    assert table(BERLIN, result) == [
        ("10-26 02:30 CEST", "10-27 02:30 CEST", 24.0, "a"),
        ("10-27 02:30 CEST", "10-28 02:30 CET", 25.0, "b"),
    ]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (LA, (2024, 3, 9), 23.0), (LA, (2024, 11, 2), 25.0),
        (BERLIN, (2024, 3, 30), 23.0), (BERLIN, (2024, 10, 26), 25.0),
        ("Australia/Lord_Howe", (2024, 10, 5), 23.5), ("Australia/Lord_Howe", (2024, 4, 6), 24.5),
    ],
)
def test_a_one_day_shift_over_a_dst_change(zone: str, day: tuple[int, int, int],
                                           hours: float) -> None:
    start = when(zone, *day, 9)
    result = shifts("ab", daily(at(9)), zone, start, start, start + 1)
    assert [(s.end - s.start) / HOUR for s in result] == [hours]
    assert wall(zone, result[0].end)[6:11] == "09:00"


def test_hand_offs_in_one_gap_both_advance_the_rotation() -> None:
    start = when(LA, 2024, 3, 9, 2, 45)
    result = shifts("abcd", daily(at(2, 15), at(2, 45)), LA, start, start, when(LA, 2024, 3, 11))
    assert table(LA, result) == [
        ("03-09 02:45 PST", "03-10 03:00 PDT", 23.25, "a"),
        # 02:15 and 02:45 both become 03:00: "b" has an empty shift, which is left out
        ("03-10 03:00 PDT", "03-11 02:15 PDT", 23.25, "c"),
    ]


def test_monthly_on_the_31st_falls_on_shorter_months_last_day() -> None:
    monthly = Recurrence.from_wire({"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                                    "MonthlySettings": [{"DayOfMonth": 31,
                                                         "HandOffTime": at(8)}]})
    start = when("UTC", 2023, 1, 31, 8)
    result = shifts("abc", monthly, "UTC", start, start, when("UTC", 2024, 5, 1))
    starts = [wall("UTC", s.start)[:5] for s in result]
    assert starts == ["01-31", "02-28", "03-31", "04-30", "05-31", "06-30", "07-31", "08-31",
                      "09-30", "10-31", "11-30", "12-31", "01-31", "02-29", "03-31", "04-30"]
    assert [s.contact_ids[0] for s in result[:4]] == ["a", "b", "c", "a"]


def test_monthly_every_second_month_from_the_starting_month() -> None:
    monthly = Recurrence.from_wire({"NumberOfOnCalls": 1, "RecurrenceMultiplier": 2,
                                    "MonthlySettings": [{"DayOfMonth": 20, "HandOffTime": at(8)},
                                                        {"DayOfMonth": 13,
                                                         "HandOffTime": at(12, 34)}]})
    start = when("UTC", 2024, 1, 15)
    result = shifts("ab", monthly, "UTC", start, start, when("UTC", 2024, 6, 1))
    assert [wall("UTC", s.start)[:11] for s in result] == [
        "01-15 00:00", "01-20 08:00", "03-13 12:34", "03-20 08:00", "05-13 12:34", "05-20 08:00",
    ]


def test_weekly_with_two_hand_offs() -> None:
    weekly = Recurrence.from_wire({
        "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
        "WeeklySettings": [{"DayOfWeek": "WED", "HandOffTime": at(4, 25)},
                           {"DayOfWeek": "FRI", "HandOffTime": at(15, 57)}],
    })
    start = when("UTC", 2024, 1, 1)  # a Monday
    result = shifts("abc", weekly, "UTC", start, start, when("UTC", 2024, 1, 15))
    assert [(wall("UTC", s.start)[:11], s.contact_ids) for s in result] == [
        ("01-01 00:00", ("a",)), ("01-03 04:25", ("b",)), ("01-05 15:57", ("c",)),
        ("01-10 04:25", ("a",)), ("01-12 15:57", ("b",)),
    ]
    assert datetime.fromtimestamp(result[-1].end, UTC).strftime("%a %H:%M") == "Wed 04:25"


def test_weekly_multiplier_counts_weeks_from_the_starting_week() -> None:
    weekly = Recurrence.from_wire({
        "NumberOfOnCalls": 1, "RecurrenceMultiplier": 2,
        "WeeklySettings": [{"DayOfWeek": "MON", "HandOffTime": at(9)}],
    })
    start = when("UTC", 2024, 1, 6, 12)  # a Saturday: that week's Monday has passed
    result = shifts("ab", weekly, "UTC", start, start, when("UTC", 2024, 2, 1))
    assert [wall("UTC", s.start)[:11] for s in result] == [
        "01-06 12:00", "01-15 09:00", "01-29 09:00",
    ]


def test_daily_multiplier_and_several_on_call() -> None:
    start = when("UTC", 2024, 1, 1, 12)
    result = shifts("abcde", daily(at(9), on_calls=2, multiplier=3), "UTC", start, start,
                    when("UTC", 2024, 1, 11))
    assert [(wall("UTC", s.start)[:11], s.contact_ids) for s in result] == [
        ("01-01 12:00", ("a", "b")), ("01-04 09:00", ("c", "d")), ("01-07 09:00", ("e", "a")),
        ("01-10 09:00", ("b", "c")),
    ]


def test_more_on_call_than_members_puts_each_member_on_once() -> None:
    start = when("UTC", 2024, 1, 1)
    result = shifts("ab", daily(at(0), on_calls=3), "UTC", start, start, start + 2 * 86400)
    assert [s.contact_ids for s in result] == [("a", "b"), ("b", "a")]


def test_coverage_monday_wednesday_friday() -> None:
    covered = {day: [{"Start": at(1), "End": at(23)}] for day in ("MON", "WED", "FRI")}
    recurrence = daily(at(9), ShiftCoverages=covered)
    start = when(LA, 2024, 1, 1)  # a Monday
    result = shifts("abc", recurrence, LA, start, start, when(LA, 2024, 1, 8))
    assert table(LA, result) == [
        ("01-01 01:00 PST", "01-01 09:00 PST", 8.0, "a"),
        ("01-01 09:00 PST", "01-01 23:00 PST", 14.0, "b"),
        # Tuesday is not covered, but its 09:00 hand-off still moves the rotation on
        ("01-03 01:00 PST", "01-03 09:00 PST", 8.0, "c"),
        ("01-03 09:00 PST", "01-03 23:00 PST", 14.0, "a"),
        ("01-05 01:00 PST", "01-05 09:00 PST", 8.0, "b"),
        ("01-05 09:00 PST", "01-05 23:00 PST", 14.0, "c"),
    ]
    assert on_call_at("abc", recurrence, LA, start, when(LA, 2024, 1, 2, 12)) == ()
    assert on_call_at("abc", recurrence, LA, start, when(LA, 2024, 1, 3, 12)) == ("a",)


def test_coverage_windows_touching_at_midnight_make_one_shift() -> None:
    covered = {"FRI": [{"Start": at(18)}], "SAT": [{}], "SUN": [{"End": at(6)}]}
    start = when("UTC", 2024, 1, 1)
    weekly = Recurrence.from_wire({
        "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, "ShiftCoverages": covered,
        "WeeklySettings": [{"DayOfWeek": "MON", "HandOffTime": at(9)}],
    })
    result = shifts("ab", weekly, "UTC", start, when("UTC", 2024, 1, 7), when("UTC", 2024, 1, 8))
    assert table("UTC", result) == [("01-05 18:00 UTC", "01-07 06:00 UTC", 36.0, "b")]


def test_a_window_keeps_whole_shifts() -> None:
    start = when("UTC", 2024, 1, 1, 9)
    result = shifts("ab", daily(at(9)), "UTC", start, when("UTC", 2024, 1, 5, 12),
                    when("UTC", 2024, 1, 5, 13))
    assert table("UTC", result) == [("01-05 09:00 UTC", "01-06 09:00 UTC", 24.0, "a")]


def test_nothing_before_the_rotation_starts() -> None:
    start = when("UTC", 2024, 1, 10, 9)
    assert shifts("ab", daily(at(9)), "UTC", start, start - 86400, start) == []
    assert on_call_at("ab", daily(at(9)), "UTC", start, start - 1) == ()
    first = shifts("ab", daily(at(9)), "UTC", start, start - 86400, start + 1)
    assert [(s.start, s.end) for s in first] == [(start, start + 86400)]


def test_overrides() -> None:
    start = when("UTC", 2024, 1, 1, 9)
    overrides = [
        Override(when("UTC", 2024, 1, 1, 12), when("UTC", 2024, 1, 2, 12), ("x",)),
        Override(when("UTC", 2024, 1, 2, 0), when("UTC", 2024, 1, 2, 6), ("y", "z")),
        Override(when("UTC", 2024, 1, 3, 9), when("UTC", 2024, 1, 3, 9), ("ignored",)),
    ]
    result = shifts("ab", daily(at(9)), "UTC", start, start, when("UTC", 2024, 1, 3),
                    overrides)
    assert [s.to_wire() for s in result] == [
        {"ContactIds": ["a"], "StartTime": start, "EndTime": start + 3 * HOUR,
         "Type": "REGULAR"},
        {"ContactIds": ["x"], "StartTime": start + 3 * HOUR, "EndTime": start + 15 * HOUR,
         "Type": "OVERRIDDEN", "ShiftDetails": {"OverriddenContactIds": ["a"]}},
        {"ContactIds": ["y", "z"], "StartTime": start + 15 * HOUR,
         "EndTime": start + 21 * HOUR, "Type": "OVERRIDDEN",
         "ShiftDetails": {"OverriddenContactIds": ["a"]}},
        {"ContactIds": ["x"], "StartTime": start + 21 * HOUR, "EndTime": start + 24 * HOUR,
         "Type": "OVERRIDDEN", "ShiftDetails": {"OverriddenContactIds": ["a"]}},
        {"ContactIds": ["x"], "StartTime": start + 24 * HOUR, "EndTime": start + 27 * HOUR,
         "Type": "OVERRIDDEN", "ShiftDetails": {"OverriddenContactIds": ["b"]}},
        {"ContactIds": ["b"], "StartTime": start + 27 * HOUR, "EndTime": start + 48 * HOUR,
         "Type": "REGULAR"},
    ]
    assert on_call_at("ab", daily(at(9)), "UTC", start, start + 16 * HOUR, overrides) == (
        "y", "z")


def test_an_override_with_nobody() -> None:
    start = when("UTC", 2024, 1, 1, 9)
    result = shifts("ab", daily(at(9)), "UTC", start, start, start + HOUR,
                    [Override(start, start + 86400, ())])
    assert [s.to_wire()["ContactIds"] for s in result] == [[]]
    assert result[0].overridden_contact_ids == ("a",)


def test_an_override_outside_coverage_changes_nothing() -> None:
    recurrence = daily(at(9), ShiftCoverages={"MON": [{"Start": at(9), "End": at(17)}]})
    start = when("UTC", 2024, 1, 1, 9)
    override = Override(when("UTC", 2024, 1, 1, 16), when("UTC", 2024, 1, 1, 20), ("x",))
    result = shifts("ab", recurrence, "UTC", start, start, start + 86400, [override])
    assert [(s.type, (s.end - s.start) / HOUR) for s in result] == [
        ("REGULAR", 7.0), ("OVERRIDDEN", 1.0),
    ]


def test_a_rotation_started_ten_years_ago_matches_the_naive_count() -> None:
    members = [f"contact-{k}" for k in range(30)]
    weekly = Recurrence.from_wire({
        "NumberOfOnCalls": 2, "RecurrenceMultiplier": 3,
        "WeeklySettings": [{"DayOfWeek": "WED", "HandOffTime": at(4, 25)},
                           {"DayOfWeek": "FRI", "HandOffTime": at(15, 57)}],
    })
    for recurrence in (daily(at(2, 30)), daily(at(1, 30), at(13)), weekly):
        start = when(LA, 2015, 3, 4, 17, 3)
        low, high = when(LA, 2025, 2, 20), when(LA, 2025, 3, 22)
        result = shifts(members, recurrence, LA, start, low, high)
        reference = Reference(members, recurrence, validate_time_zone(LA, "tz"), start, high)
        assert result
        for shift in result:
            assert shift.contact_ids == reference.regular(shift.start)
            assert on_call_at(members, recurrence, LA, start, shift.end - 1) == shift.contact_ids
    # daily at 09:00 UTC from 1 January 2015: shift i starts i days later
    start = when("UTC", 2015, 1, 1, 9)
    later = when("UTC", 2025, 1, 1, 9)
    days = round((later - start) / 86400)
    result = shifts(members, daily(at(9)), "UTC", start, later, later + 1)
    assert result[0].contact_ids == (members[days % 30],)


def test_bad_zone_and_start() -> None:
    with pytest.raises(ValidationException) as caught:
        shifts("ab", daily(at(9)), "PST", 0.0, 0.0, 1.0)
    assert caught.value.members["Fields"][0]["Name"] == "TimeZoneId"
    with pytest.raises(ValidationException):
        shifts("ab", daily(at(9)), "UTC", when("UTC", 1800, 1, 1), 0.0, 1.0)
    with pytest.raises(ValueError):
        shifts([], daily(at(9)), "UTC", 0.0, 0.0, 1.0)
