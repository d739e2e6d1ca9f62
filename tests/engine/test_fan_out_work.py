"""One StartEngagement must not cost stages x plan size (session 10 cost audit).

Every stage of an escalation used to read the whole stored plan again (up to 100 stages of
100 targets, ~1 MiB of JSON), and every schedule a stage reaches parsed its rotations'
recurrence again (up to 2 MiB of hand-offs each): 5.8 s of engine CPU for one call with a
maximal plan. These tests count the parses, never the time taken.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from incident_contacts.engine import planner, steps
from incident_contacts.service import oncall, overrides, rotations
from incident_contacts.testing import mock_ssm_contacts

STAGES = 6


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str,
              argument: int = 0) -> list[Any]:
    calls: list[Any] = []
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[argument])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_each_plan_and_recurrence_is_parsed_once_per_engagement(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_ssm_contacts() as contacts:
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        people = [client.create_contact(Alias=f"person-{n}", Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"] for n in range(3)]
        rotation = client.create_rotation(
            Name="primary", ContactIds=people, TimeZoneId="UTC",
            StartTime=contacts.clock.now() - 3600,
            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                        "DailySettings": [{"HourOfDay": h, "MinuteOfHour": 7}
                                          for h in range(24)]})["RotationArn"]
        schedule = client.create_contact(Alias="schedule", Type="ONCALL_SCHEDULE",
                                         Plan={"RotationIds": [rotation]})["ContactArn"]
        # Every stage lasts 0 minutes, so all of them run as the engagement starts.
        stages = [{"DurationInMinutes": 0, "Targets": [
            {"ContactTargetInfo": {"ContactId": schedule, "IsEssential": False}},
            {"ContactTargetInfo": {"ContactId": people[n % 3], "IsEssential": False}},
        ]} for n in range(STAGES)]
        escalation = client.create_contact(Alias="escalation", Type="ESCALATION",
                                           Plan={"Stages": stages})["ContactArn"]
        plans = _counting(monkeypatch, planner, "parse_stages")
        recurrences = _counting(monkeypatch, rotations, "parse_recurrence")
        reached = _counting(monkeypatch, steps, "schedule_on_call")
        client.start_engagement(ContactId=escalation, Sender="ops", Subject="Disk full",
                                Content="db-1")
    escalations = [plan for plan in plans if len(plan.get("Stages") or []) == STAGES]
    assert len(escalations) <= 1
    assert len(recurrences) <= 1
    # ... and every stage still ran: each reached the schedule.
    assert len(reached) == STAGES


def test_who_is_on_call_loads_one_override_not_every_one_covering_the_instant(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Overrides have no quota: a rotation with thousands covering now made every schedule
    # a stage reached load all of them, though only the latest created decides.
    with mock_ssm_contacts() as contacts:
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        people = [client.create_contact(Alias=f"person-{n}", Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"] for n in range(3)]
        now = contacts.clock.now()
        rotation = client.create_rotation(
            Name="primary", ContactIds=people, TimeZoneId="UTC", StartTime=now - 3600,
            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                        "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]})["RotationArn"]
        for n in range(5):
            client.create_rotation_override(
                RotationId=rotation, NewContactIds=[people[n % 2 + 1]],
                StartTime=now - 60 * (n + 1), EndTime=now + 86400 * (n + 1))
        schedule = client.create_contact(Alias="schedule", Type="ONCALL_SCHEDULE",
                                         Plan={"RotationIds": [rotation]})["ContactArn"]
        loaded = _counting(monkeypatch, overrides, "_contact_arns", 1)
        reached = _counting(monkeypatch, steps, "schedule_on_call")
        client.start_engagement(ContactId=schedule, Sender="ops", Subject="Disk full",
                                Content="db-1")
        assert len(reached) == 1
        assert [len(ids) for ids in loaded] == [1]
        # The latest override created (the fifth: people[1]) decides who is on call.
        with contacts.runtime.store.transaction(write=False) as conn:
            assert oncall.on_call_contacts(conn, rotation, now) == [people[1]]
