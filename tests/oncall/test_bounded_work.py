"""The work of a shift listing is bounded by the shifts it returns (session 10 cost audit).

Each test counts the work done (wall-clock conversions, attribute reads of overrides), never
the time taken: a listing of a few shifts must not convert every hand-off of the uncovered
weeks in between, nor compare every shift with every override.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
import pytest

from incident_contacts.oncall import handoffs
from incident_contacts.oncall.recurrence import Override, shifts
from incident_contacts.oncall.settings import Recurrence
from incident_contacts.testing import mock_ssm_contacts

START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
DAY = 86400.0
EVERY_MINUTE = [{"HourOfDay": m // 60, "MinuteOfHour": m % 60} for m in range(1440)]
ONE_MINUTE_ON_MONDAYS = {"MON": [{"Start": {"HourOfDay": 0, "MinuteOfHour": 0},
                                  "End": {"HourOfDay": 0, "MinuteOfHour": 1}}]}


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts wall-clock conversions made for hand-offs (the costly step)."""
    count = [0]
    real = handoffs.wall_instant

    def counting(*args: Any) -> float:
        count[0] += 1
        return real(*args)

    monkeypatch.setattr(handoffs, "wall_instant", counting)
    return count


def test_a_preview_skips_the_hand_offs_of_uncovered_time(conversions: list[int]) -> None:
    # 1,440 hand-offs a day, on call one minute a week: ten shifts lie ten weeks apart.
    # Converting every hand-off in between took ~10^5 conversions (and minutes for a full
    # page of 1,024 shifts); skipping uncovered time takes a few dozen per shift.
    with mock_ssm_contacts():
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        answer = client.list_preview_rotation_shifts(
            Members=["a", "b", "c"], TimeZoneId="America/New_York",
            RotationStartTime=START, StartTime=START, EndTime=START + 3650 * DAY,
            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                        "DailySettings": EVERY_MINUTE, "ShiftCoverages": ONE_MINUTE_ON_MONDAYS},
            MaxResults=10)
    listed = answer["RotationShifts"]
    assert len(listed) == 10
    assert all((s["EndTime"] - s["StartTime"]).total_seconds() == 60 for s in listed)
    # 300 hand-offs from 19:00 EST on Sunday to Monday 00:00, then 10,080 a week: "a".
    assert {tuple(s["ContactIds"]) for s in listed} == {("a",)}
    assert "NextToken" in answer
    assert conversions[0] < 2_000


def test_a_stretch_stops_at_the_shifts_the_page_needs(conversions: list[int]) -> None:
    # A page of 5 shifts of a rotation handing off every minute: the first stretch (8 days)
    # held 11,520 hand-offs, all converted before the page was cut.
    with mock_ssm_contacts():
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        answer = client.list_preview_rotation_shifts(
            Members=["a", "b"], TimeZoneId="UTC", RotationStartTime=START,
            StartTime=START, EndTime=START + 365 * DAY,
            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                        "DailySettings": EVERY_MINUTE},
            MaxResults=5)
    assert [s["StartTime"].timestamp() - START for s in answer["RotationShifts"]] == [
        0, 60, 120, 180, 240]
    assert conversions[0] < 500


class _CountedOverride(Override):
    """An override that counts reads of its times."""

    reads: ClassVar[list[int]] = [0]

    def __getattribute__(self, name: str) -> Any:
        if name in ("start", "end"):
            _CountedOverride.reads[0] += 1
        return object.__getattribute__(self, name)


def test_overrides_are_laid_out_once_not_compared_with_every_shift() -> None:
    # 2,000 overrides (one a quarter hour each hour, half of them after the window) over
    # 1,000 hourly shifts: every shift compared with every override was 4 million reads
    # (the preview's 2 MiB body holds ~15,000 overrides: seconds of CPU).
    hourly = Recurrence.from_wire({
        "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
        "DailySettings": [{"HourOfDay": h, "MinuteOfHour": 0} for h in range(24)]})
    overrides = [_CountedOverride(START + n * 3600 + 1800, START + n * 3600 + 2700, ("b",))
                 for n in range(2000)]
    _CountedOverride.reads[0] = 0
    result = shifts(["a", "b"], hourly, "UTC", START, START, START + 1000 * 3600, overrides)
    assert _CountedOverride.reads[0] < 20 * len(overrides)
    overridden = [s for s in result if s.type == "OVERRIDDEN"]
    assert len(overridden) == 1000
    assert overridden[1].start == START + 5400 and overridden[1].end == START + 6300
    assert overridden[1].overridden_contact_ids == ("b",)
    assert len(result) == 3 * 1000  # each hour: regular, the override's 15 min, regular
