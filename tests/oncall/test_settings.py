from __future__ import annotations

from typing import Any

import pytest

from incident_contacts.errors import ValidationException
from incident_contacts.oncall.recurrence import Recurrence


def at(hour: int, minute: int = 0) -> dict[str, int]:
    return {"HourOfDay": hour, "MinuteOfHour": minute}


def wire(**members: Any) -> dict[str, Any]:
    return {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, **members}


def failure(data: dict[str, Any], prefix: str = "Recurrence") -> str:
    with pytest.raises(ValidationException) as caught:
        Recurrence.from_wire(data, prefix)
    fields = caught.value.members["Fields"]
    assert len(fields) == 1
    name: str = fields[0]["Name"]
    return name


def test_daily() -> None:
    parsed = Recurrence.from_wire(wire(DailySettings=[at(9), at(21, 30), at(9)]))
    assert parsed == Recurrence(1, 1, "DAILY", ((0, 540), (0, 1290)))


def test_weekly_and_monthly() -> None:
    weekly = Recurrence.from_wire(wire(WeeklySettings=[
        {"DayOfWeek": "FRI", "HandOffTime": at(15, 57)},
        {"DayOfWeek": "WED", "HandOffTime": at(4, 25)},
    ]))
    assert weekly.period == "WEEKLY"
    assert weekly.hand_offs == ((2, 265), (4, 957))
    monthly = Recurrence.from_wire(wire(MonthlySettings=[
        {"DayOfMonth": 20, "HandOffTime": at(8)},
        {"DayOfMonth": 13, "HandOffTime": at(12, 34)},
    ]))
    assert monthly.hand_offs == ((13, 754), (20, 480))


@pytest.mark.parametrize(
    "data",
    [
        wire(),
        wire(DailySettings=[at(9)], WeeklySettings=[{"DayOfWeek": "MON", "HandOffTime": at(9)}]),
        wire(DailySettings=[at(9)], MonthlySettings=[{"DayOfMonth": 1, "HandOffTime": at(9)}]),
    ],
)
def test_exactly_one_kind_of_settings(data: dict[str, Any]) -> None:
    assert failure(data) == "Recurrence"
    assert failure(data, prefix="Rotation.Recurrence") == "Rotation.Recurrence"


def test_settings_must_not_be_empty() -> None:
    assert failure(wire(WeeklySettings=[])) == "Recurrence.WeeklySettings"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (wire(WeeklySettings=[{"DayOfWeek": "MON", "HandOffTime": at(9)},
                              {"DayOfWeek": "MON", "HandOffTime": at(24)}]),
         "Recurrence.WeeklySettings[1].HandOffTime.HourOfDay"),
        (wire(WeeklySettings=[{"DayOfWeek": "MON", "HandOffTime": at(9)},
                              {"DayOfWeek": "MON"}]),
         "Recurrence.WeeklySettings[1].HandOffTime"),
        (wire(WeeklySettings=[{"DayOfWeek": "MONDAY", "HandOffTime": at(9)}]),
         "Recurrence.WeeklySettings[0].DayOfWeek"),
        (wire(MonthlySettings=[{"DayOfMonth": 32, "HandOffTime": at(9)}]),
         "Recurrence.MonthlySettings[0].DayOfMonth"),
        (wire(DailySettings=[at(9, 60)]), "Recurrence.DailySettings[0].MinuteOfHour"),
        ({"NumberOfOnCalls": 0, "RecurrenceMultiplier": 1, "DailySettings": [at(9)]},
         "Recurrence.NumberOfOnCalls"),
        ({"NumberOfOnCalls": 1, "RecurrenceMultiplier": 101, "DailySettings": [at(9)]},
         "Recurrence.RecurrenceMultiplier"),
        ({"NumberOfOnCalls": 1, "DailySettings": [at(9)]}, "Recurrence.RecurrenceMultiplier"),
    ],
)
def test_field_paths(data: dict[str, Any], path: str) -> None:
    assert failure(data) == path


def test_coverage_windows() -> None:
    parsed = Recurrence.from_wire(wire(DailySettings=[at(9)], ShiftCoverages={
        "MON": [{"Start": at(1), "End": at(23)}],
        "WED": [{"Start": at(9), "End": at(12)}, {"Start": at(8), "End": at(10)},
                {"Start": at(12), "End": at(0)}],
        "FRI": [{}],
        "SAT": [],
        "SUN": [{"Start": at(0), "End": at(0)}],
    }))
    assert parsed.coverage == (
        ((60, 1380),), (), ((480, 1440),), (), ((0, 1440),), (), ((0, 1440),),
    )


def test_full_or_empty_coverage_is_no_coverage() -> None:
    days = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
    full = Recurrence.from_wire(wire(DailySettings=[at(9)],
                                     ShiftCoverages={day: [{}] for day in days}))
    assert full.coverage is None
    assert Recurrence.from_wire(wire(DailySettings=[at(9)], ShiftCoverages={})).coverage is None


@pytest.mark.parametrize(
    "window",
    [{"Start": at(23), "End": at(1)}, {"Start": at(9), "End": at(9)}, {"Start": at(5, 1),
                                                                        "End": at(5)}],
)
def test_coverage_must_start_before_it_ends(window: dict[str, Any]) -> None:
    data = wire(DailySettings=[at(9)], ShiftCoverages={"TUE": [{}, window]})
    assert failure(data) == "Recurrence.ShiftCoverages.TUE[1]"


def test_coverage_that_covers_nothing_is_refused() -> None:
    data = wire(DailySettings=[at(9)], ShiftCoverages={"MON": [], "TUE": []})
    assert failure(data) == "Recurrence.ShiftCoverages"
