from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from incident_contacts.errors import ValidationException
from incident_contacts.oncall.zones import local_date, validate_time_zone, wall_instant


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "name", ["UTC", "America/Los_Angeles", "Asia/Seoul", "Europe/Berlin", "Etc/GMT+5",
             "Australia/Lord_Howe", "America/Argentina/Buenos_Aires"],
)
def test_iana_names_are_accepted(name: str) -> None:
    assert validate_time_zone(name, "TimeZoneId").key == name


@pytest.mark.parametrize(
    "name", ["PST", "EST", "CET", "HST", "PST8PDT", "GMT", "Japan", "Factory", "", "America",
             "America/Nowhere", "../etc/passwd", "/usr/share/zoneinfo/UTC", "utc"],
)
def test_designators_and_unknown_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationException) as caught:
        validate_time_zone(name, "TimeZoneId")
    assert caught.value.members["Fields"][0]["Name"] == "TimeZoneId"
    assert caught.value.members["Reason"] == "FIELD_VALIDATION_FAILED"


def test_an_ordinary_wall_time() -> None:
    tz = validate_time_zone("America/Los_Angeles", "tz")
    assert wall_instant(date(2024, 1, 15), 9 * 60, tz) == utc(2024, 1, 15, 17)
    assert wall_instant(date(2024, 1, 15), 24 * 60, tz) == utc(2024, 1, 16, 8)


@pytest.mark.parametrize(
    ("zone", "day", "minute", "expected"),
    [
        # 02:00-03:00 does not exist on 10 March 2024 in Los Angeles: 03:00 PDT is 10:00 UTC
        ("America/Los_Angeles", date(2024, 3, 10), 2 * 60 + 30, utc(2024, 3, 10, 10)),
        ("America/Los_Angeles", date(2024, 3, 10), 2 * 60, utc(2024, 3, 10, 10)),
        ("America/Los_Angeles", date(2024, 3, 10), 3 * 60, utc(2024, 3, 10, 10)),
        # 02:00-03:00 does not exist on 31 March 2024 in Berlin: 03:00 CEST is 01:00 UTC
        ("Europe/Berlin", date(2024, 3, 31), 2 * 60 + 30, utc(2024, 3, 31, 1)),
        # Lord Howe springs forward half an hour: 02:00-02:30 does not exist on 6 October 2024
        ("Australia/Lord_Howe", date(2024, 10, 6), 2 * 60 + 10, utc(2024, 10, 5, 15, 30)),
    ],
)
def test_a_time_in_a_dst_gap_moves_forward_to_the_gap_end(
    zone: str, day: date, minute: int, expected: float
) -> None:
    assert wall_instant(day, minute, validate_time_zone(zone, "tz")) == expected


@pytest.mark.parametrize(
    ("zone", "day", "minute", "expected"),
    [
        # 01:30 happens twice on 3 November 2024 in Los Angeles: the first is 01:30 PDT
        ("America/Los_Angeles", date(2024, 11, 3), 90, utc(2024, 11, 3, 8, 30)),
        # 02:30 happens twice on 27 October 2024 in Berlin: the first is 02:30 CEST
        ("Europe/Berlin", date(2024, 10, 27), 150, utc(2024, 10, 27, 0, 30)),
        # 01:45 happens twice on 7 April 2024 on Lord Howe: the first is 01:45 +11
        ("Australia/Lord_Howe", date(2024, 4, 7), 105, utc(2024, 4, 6, 14, 45)),
    ],
)
def test_a_repeated_time_takes_its_first_occurrence(
    zone: str, day: date, minute: int, expected: float
) -> None:
    assert wall_instant(day, minute, validate_time_zone(zone, "tz")) == expected


def test_local_date() -> None:
    tz = validate_time_zone("Asia/Seoul", "tz")
    assert local_date(utc(2024, 1, 1, 15), tz) == date(2024, 1, 2)
