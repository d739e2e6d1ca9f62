"""Timestamps in answers are epoch seconds to the millisecond, as AWS sends them
(``1621362341.151``, spec §1.3), on every backend. The AWS SDK for JavaScript reads an instant
to the millisecond and boto3 to the microsecond: a finer instant on the wire reads as two
different times in two SDKs (tests/clients/test_js_sdk.py compares them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import Backend


def test_instants_the_server_takes_from_its_clock_go_out_to_the_millisecond(
        client: Any, backend: Backend) -> None:
    contact = client.create_contact(Alias="akuam", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    engagement = client.start_engagement(ContactId=contact, Sender="tester",
                                         Subject="Database down",
                                         Content="Primary is down")["EngagementArn"]
    # No StartTime: the rotation starts when it is created.
    rotation = client.create_rotation(
        Name="primary", ContactIds=[contact], TimeZoneId="UTC",
        Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]})["RotationArn"]
    override = client.create_rotation_override(
        RotationId=rotation, NewContactIds=[contact],
        StartTime=datetime(2031, 1, 1, tzinfo=UTC),
        EndTime=datetime(2031, 1, 2, tzinfo=UTC))["RotationOverrideId"]
    client.stop_engagement(EngagementId=engagement)

    described = client.describe_engagement(EngagementId=engagement)
    [listed] = client.list_engagements()["Engagements"]
    instants = {
        "StartTime": described["StartTime"],
        "StopTime": described["StopTime"],
        "listed StartTime": listed["StartTime"],
        # (GetRotation leaves StartTime out for a rotation given none; its first shift
        # starts when it was created)
        "first shift StartTime": client.list_rotation_shifts(
            RotationId=rotation, StartTime=datetime(2000, 1, 1, tzinfo=UTC),
            EndTime=datetime(8999, 1, 1, tzinfo=UTC), MaxResults=1,
        )["RotationShifts"][0]["StartTime"],
        "override CreateTime": client.get_rotation_override(
            RotationId=rotation, RotationOverrideId=override)["CreateTime"],
    }
    submillisecond = {name: instant.microsecond % 1000 for name, instant in instants.items()}
    assert submillisecond == dict.fromkeys(instants, 0)
    if backend.mock is not None:
        # The mock's clock stands still: every one of these is its reading, to the millisecond.
        now = datetime.fromtimestamp(round(backend.mock.clock.now(), 3), UTC)
        assert set(instants.values()) == {now}
