"""CreateRotation, GetRotation, UpdateRotation, DeleteRotation, ListRotations on every backend."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import DAILY, at, error, people, rotation, shift_tuples, when

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

RECURRENCES = {
    "daily": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 2,
              "DailySettings": [at(18, 30), at(6, 15)]},
    "weekly": {"NumberOfOnCalls": 2, "RecurrenceMultiplier": 1,
               "WeeklySettings": [{"DayOfWeek": "WED", "HandOffTime": at(4, 25)},
                                  {"DayOfWeek": "FRI", "HandOffTime": at(15, 57)}]},
    "monthly": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                "MonthlySettings": [{"DayOfMonth": 20, "HandOffTime": at(8)},
                                    {"DayOfMonth": 13, "HandOffTime": at(12, 34)}]},
    "coverage": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, "DailySettings": [at(9)],
                 "ShiftCoverages": {
                     "MON": [{"Start": at(1), "End": at(23)}],
                     "WED": [{"Start": at(1), "End": at(23)}],
                     "FRI": [{"Start": at(1), "End": at(23)}]}},
}


@pytest.mark.parametrize("kind", sorted(RECURRENCES))
def test_get_rotation_gives_back_what_was_sent_in_order(backend: Any, kind: str) -> None:
    client = backend.client()
    members = people(client, "zed", "akua", "mia")
    arn = rotation(client, members, RECURRENCES[kind], Name="Primary rota.1",
                   TimeZoneId="America/Los_Angeles", StartTime=when(2024, 5, 1, 16, 30, 5))
    assert re.fullmatch(rf"arn:aws:ssm-contacts:us-east-1:{backend.account}:rotation/{UUID}",
                        arn)
    got = client.get_rotation(RotationId=arn)
    assert got["RotationArn"] == arn
    assert got["Name"] == "Primary rota.1"
    assert got["ContactIds"] == members
    assert got["StartTime"] == when(2024, 5, 1, 16, 30, 5)
    assert got["TimeZoneId"] == "America/Los_Angeles"
    assert got["Recurrence"] == RECURRENCES[kind]
    for name in ("DailySettings", "WeeklySettings", "MonthlySettings"):
        if name in RECURRENCES[kind]:
            assert got["Recurrence"][name] == RECURRENCES[kind][name]  # list order kept


def _first_shifts(client: Any, arn: str, count: int = 3) -> list[tuple[Any, ...]]:
    """The rotation's first shifts, from however long ago it started."""
    return shift_tuples(client.list_rotation_shifts(
        RotationId=arn, StartTime=when(2000, 1, 1), EndTime=when(8999, 1, 1),
        MaxResults=count)["RotationShifts"])


def _listed(client: Any, arn: str) -> dict[str, Any]:
    (found,) = [r for r in client.list_rotations()["Rotations"] if r["RotationArn"] == arn]
    return dict(found)


def test_a_rotation_created_without_start_time_reports_none_and_starts_when_created(
        backend: Any) -> None:
    """As AWS: GetRotation and ListRotations leave StartTime out (Terraform's start_time is
    optional, not computed). The shifts still count from the creation time: the same as
    those of a rotation given that time as its start."""
    client = backend.client()
    akua, mia = people(client, "akua", "mia")
    before = time.time()
    arn = rotation(client, [akua, mia])
    assert "StartTime" not in client.get_rotation(RotationId=arn)
    assert "StartTime" not in _listed(client, arn)
    shifts = _first_shifts(client, arn)
    started = shifts[0][0]
    # The server's clock may have been moved forward by other tests; never backward.
    assert started >= before - 5
    # (a client sends the start to the whole second: the first shift starts there)
    given = rotation(client, [akua, mia], Name="given",
                     StartTime=datetime.fromtimestamp(started, UTC))
    assert _first_shifts(client, given) == [(start // 1, *rest) for start, *rest in shifts[:1]
                                            ] + shifts[1:]
    assert _listed(client, given)["StartTime"].timestamp() == started // 1


def test_update_rotation_keeps_or_sets_the_start_as_given(backend: Any) -> None:
    client = backend.client()
    akua, mia = people(client, "akua", "mia")
    arn = rotation(client, [akua, mia])
    shifts = _first_shifts(client, arn)
    # Without StartTime: still none reported, still counted from the creation time.
    client.update_rotation(RotationId=arn, Recurrence=DAILY, ContactIds=[mia, akua],
                           TimeZoneId="Europe/Berlin")
    got = client.get_rotation(RotationId=arn)
    assert "StartTime" not in got and "StartTime" not in _listed(client, arn)
    assert (got["ContactIds"], got["TimeZoneId"]) == ([mia, akua], "Europe/Berlin")
    assert [s[0] for s in _first_shifts(client, arn)][:1] == [shifts[0][0]]
    # With StartTime: reported as given from then on, and the shifts count from it.
    client.update_rotation(RotationId=arn, Recurrence=DAILY, StartTime=when(2025, 2, 3, 4))
    assert client.get_rotation(RotationId=arn)["StartTime"] == when(2025, 2, 3, 4)
    assert _listed(client, arn)["StartTime"] == when(2025, 2, 3, 4)
    assert _first_shifts(client, arn)[0][0] == when(2025, 2, 3, 4).timestamp()
    # Without it again: the start given stays.
    client.update_rotation(RotationId=arn, Recurrence=RECURRENCES["weekly"])
    assert client.get_rotation(RotationId=arn)["StartTime"] == when(2025, 2, 3, 4)
    assert _listed(client, arn)["StartTime"] == when(2025, 2, 3, 4)


def test_members_must_be_personal_contacts(backend: Any) -> None:
    client = backend.client()
    (akua,) = people(client, "akua")
    plan = client.create_contact(
        Alias="esc", Type="ESCALATION",
        Plan={"Stages": [{"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": akua, "IsEssential": True}}]}]},
    )["ContactArn"]
    with pytest.raises(ClientError) as caught:
        rotation(client, [akua, plan])
    body = error(caught)
    assert body["Error"]["Code"] == "ValidationException"
    assert body["Fields"][0]["Name"] == "ContactIds[1]"
    schedule_rotation = rotation(client, [akua])
    schedule = client.create_contact(Alias="sched", Type="ONCALL_SCHEDULE",
                                     Plan={"RotationIds": [schedule_rotation]})["ContactArn"]
    with pytest.raises(ClientError) as caught:
        rotation(client, [schedule])
    assert error(caught)["Error"]["Code"] == "ValidationException"


def test_unknown_member_is_resource_not_found(backend: Any) -> None:
    client = backend.client()
    (akua,) = people(client, "akua")
    ghost = akua.replace("contact/akua", "contact/ghost")
    with pytest.raises(ClientError) as caught:
        rotation(client, [akua, ghost])
    body = error(caught)
    assert body["Error"]["Code"] == "ResourceNotFoundException"
    assert body["ResourceType"] == "CONTACT"
    assert body["ResourceId"] == ghost


def test_member_of_another_account_is_refused(backend: Any) -> None:
    client = backend.client()
    other = backend.client(account="123456789012")
    (theirs,) = [other.create_contact(Alias=f"x{backend.account}", Type="PERSONAL",
                                      Plan={"Stages": []})["ContactArn"]]
    with pytest.raises(ClientError) as caught:
        rotation(client, [theirs])
    assert error(caught)["Error"]["Code"] == "ValidationException"


def test_a_member_listed_twice_is_refused(backend: Any) -> None:
    client = backend.client()
    (akua,) = people(client, "akua")
    with pytest.raises(ClientError) as caught:
        rotation(client, [akua, akua])
    assert error(caught)["Fields"][0]["Name"] == "ContactIds[1]"


@pytest.mark.parametrize(
    ("recurrence", "zone", "field"),
    [
        ({"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}, "UTC", "Recurrence"),
        ({**DAILY, "WeeklySettings": [{"DayOfWeek": "MON", "HandOffTime": at(9)}]}, "UTC",
         "Recurrence"),
        (DAILY, "PST", "TimeZoneId"),
        (DAILY, "Mars/Olympus_Mons", "TimeZoneId"),
        ({**DAILY, "RecurrenceMultiplier": 101}, "UTC", "Recurrence.RecurrenceMultiplier"),
        ({**DAILY, "ShiftCoverages": {"MON": [{"Start": at(10), "End": at(9)}]}}, "UTC",
         "Recurrence.ShiftCoverages.MON[0]"),
    ],
)
def test_invalid_settings(backend: Any, recurrence: dict[str, Any], zone: str,
                          field: str) -> None:
    client = backend.client()
    members = people(client, "akua")
    with pytest.raises(ClientError) as caught:
        rotation(client, members, recurrence, TimeZoneId=zone)
    body = error(caught)
    assert body["Error"]["Code"] == "ValidationException"
    assert body["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert body["Fields"][0]["Name"] == field
    assert client.list_rotations()["Rotations"] == []


def test_update_rotation(backend: Any) -> None:
    client = backend.client()
    akua, mia, zed = people(client, "akua", "mia", "zed")
    arn = rotation(client, [akua, mia], StartTime=when(2024, 1, 1))
    weekly = RECURRENCES["weekly"]
    client.update_rotation(RotationId=arn, Recurrence=weekly)
    got = client.get_rotation(RotationId=arn)
    assert (got["ContactIds"], got["StartTime"], got["TimeZoneId"], got["Recurrence"]) == (
        [akua, mia], when(2024, 1, 1), "UTC", weekly)
    client.update_rotation(RotationId=arn, Recurrence=DAILY, ContactIds=[zed, akua],
                           StartTime=when(2025, 2, 3, 4), TimeZoneId="Europe/Berlin")
    got = client.get_rotation(RotationId=arn)
    assert (got["Name"], got["ContactIds"], got["StartTime"], got["TimeZoneId"],
            got["Recurrence"]) == ("primary", [zed, akua], when(2025, 2, 3, 4),
                                   "Europe/Berlin", DAILY)
    # mia left the rotation, so she can be deleted now
    client.delete_contact(ContactId=mia)
    with pytest.raises(ClientError) as caught:
        client.update_rotation(RotationId=arn, Recurrence=DAILY, TimeZoneId="EST")
    assert error(caught)["Fields"][0]["Name"] == "TimeZoneId"
    assert client.get_rotation(RotationId=arn)["TimeZoneId"] == "Europe/Berlin"


def test_unknown_rotation(backend: Any) -> None:
    client = backend.client()
    ghost = (f"arn:aws:ssm-contacts:us-east-1:{backend.account}:rotation/"
             "0e5b4e6c-3c1f-4c51-9a53-d0c3a1b2c3d4")
    calls = [
        lambda: client.get_rotation(RotationId=ghost),
        lambda: client.update_rotation(RotationId=ghost, Recurrence=DAILY),
        lambda: client.delete_rotation(RotationId=ghost),
        lambda: client.list_rotation_shifts(RotationId=ghost, EndTime=when(2030, 1, 1)),
        lambda: client.list_tags_for_resource(ResourceARN=ghost),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        body = error(caught)
        assert body["Error"]["Code"] == "ResourceNotFoundException"
        assert (body["ResourceType"], body["ResourceId"]) == ("ROTATION", ghost)


def test_rotation_of_another_account_or_region_is_out_of_reach(backend: Any) -> None:
    client = backend.client()
    arn = rotation(client, people(client, "akua"))
    other = backend.client(account="210987654321")
    with pytest.raises(ClientError) as caught:
        other.get_rotation(RotationId=arn)
    # refused before the operation runs (api/security.py): rotations are never shared
    assert error(caught)["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as caught:
        backend.client(region="eu-west-1").get_rotation(RotationId=arn)
    assert error(caught)["Error"]["Code"] == "ResourceNotFoundException"


def test_rotations_are_taggable(backend: Any) -> None:
    client = backend.client()
    arn = rotation(client, people(client, "akua"), Tags=[{"Key": "team", "Value": "core"}])
    client.tag_resource(ResourceARN=arn, Tags=[{"Key": "tier", "Value": "1"}])
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "core"}, {"Key": "tier", "Value": "1"}]
    client.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "tier", "Value": "1"}]
    client.delete_rotation(RotationId=arn)
    with pytest.raises(ClientError) as caught:
        client.list_tags_for_resource(ResourceARN=arn)
    assert error(caught)["ResourceType"] == "ROTATION"


def test_list_rotations_with_prefix_and_pages(backend: Any) -> None:
    client = backend.client()
    members = people(client, "akua")
    made = [rotation(client, members, Name=name)
            for name in ["Primary a", "primary b", "Primary c", "Secondary", "Primary.d"]]
    listed = client.list_rotations()["Rotations"]
    assert [r["RotationArn"] for r in listed] == made
    assert listed[0]["ContactIds"] == members and listed[0]["Recurrence"] == DAILY
    # made without StartTime: none listed (as GetRotation)
    assert listed[0]["TimeZoneId"] == "UTC" and "StartTime" not in listed[0]
    prefixed = client.list_rotations(RotationNamePrefix="Primary")["Rotations"]
    assert [r["Name"] for r in prefixed] == ["Primary a", "Primary c", "Primary.d"]
    seen: list[str] = []
    token: dict[str, str] = {}
    pages = 0
    while True:
        page = client.list_rotations(MaxResults=2, **token)
        pages += 1
        seen += [r["RotationArn"] for r in page["Rotations"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert (seen, pages) == (made, 3)
    paginated = client.get_paginator("list_rotations").paginate(
        RotationNamePrefix="Primary", PaginationConfig={"PageSize": 1})
    assert [r["Name"] for p in paginated for r in p["Rotations"]] == [
        "Primary a", "Primary c", "Primary.d"]
    with pytest.raises(ClientError) as caught:
        client.list_rotations(NextToken="garbage")
    assert error(caught)["Error"]["Code"] == "ValidationException"


def test_delete_rotation(backend: Any) -> None:
    client = backend.client()
    akua, mia = people(client, "akua", "mia")
    arn = rotation(client, [akua, mia])
    client.create_rotation_override(RotationId=arn, NewContactIds=[mia],
                                    StartTime=when(2030, 1, 1), EndTime=when(2030, 1, 2))
    client.delete_rotation(RotationId=arn)
    assert client.list_rotations()["Rotations"] == []
    with pytest.raises(ClientError) as caught:
        client.get_rotation(RotationId=arn)
    assert error(caught)["Error"]["Code"] == "ResourceNotFoundException"
    client.delete_contact(ContactId=akua)   # no longer a member of anything


def test_idempotent_create(backend: Any) -> None:
    client = backend.client()
    members = people(client, "akua")
    first = rotation(client, members, IdempotencyToken="tok-1")
    assert rotation(client, members, IdempotencyToken="tok-1") == first
    assert len(client.list_rotations()["Rotations"]) == 1
