"""Quotas of an account and of a plan: each a setting (0 for none); past one, a
ServiceQuotaExceededException with AWS's Service Quotas code, and nothing changes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from incident_contacts.config import Settings
from incident_contacts.testing import mock_ssm_contacts

LOW = Settings(throttle_rate=0, quota_contacts=3, quota_rotations=1, quota_stages=2,
               quota_targets=2)


def refused(call: Any, quota_code: str) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    response: dict[str, Any] = info.value.response
    assert response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert (response["QuotaCode"], response["ServiceCode"]) == (quota_code, "ssm-contacts")
    return response


def test_contacts_and_rotations_per_account_and_region() -> None:
    with mock_ssm_contacts(settings=LOW):
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        made = [client.create_contact(Alias=f"c{n}", Type="PERSONAL",
                                      Plan={"Stages": []})["ContactArn"] for n in range(3)]
        response = refused(lambda: client.create_contact(Alias="c3", Type="PERSONAL",
                                                         Plan={"Stages": []}), "L-7DD2017D")
        assert response["ResourceType"] == "CONTACT"
        assert len(client.list_contacts()["Contacts"]) == 3
        # Per region: another region has its own; a deletion makes room.
        other = boto3.client("ssm-contacts", region_name="eu-west-1")
        other.create_contact(Alias="c3", Type="PERSONAL", Plan={"Stages": []})
        client.delete_contact(ContactId=made[2])
        client.create_contact(Alias="c3", Type="PERSONAL", Plan={"Stages": []})

        recurrence = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                      "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
        client.create_rotation(Name="first", ContactIds=made[:1], TimeZoneId="UTC",
                               Recurrence=recurrence)
        refused(lambda: client.create_rotation(Name="second", ContactIds=made[:1],
                                               TimeZoneId="UTC", Recurrence=recurrence),
                "L-4EA3AB3A")
        assert len(client.list_rotations()["Rotations"]) == 1


def test_stages_per_plan_and_targets_per_stage() -> None:
    with mock_ssm_contacts(settings=Settings(throttle_rate=0, quota_stages=2, quota_targets=2)):
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        people = [client.create_contact(Alias=f"p{n}", Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"] for n in range(3)]

        def stage(*targets: str) -> dict[str, Any]:
            return {"DurationInMinutes": 5, "Targets": [
                {"ContactTargetInfo": {"ContactId": t, "IsEssential": False}} for t in targets]}

        refused(lambda: client.create_contact(
            Alias="esc", Type="ESCALATION",
            Plan={"Stages": [stage(people[0])] * 3}), "L-5AE11799")
        refused(lambda: client.create_contact(
            Alias="esc", Type="ESCALATION", Plan={"Stages": [stage(*people)]}), "L-F338226A")
        with pytest.raises(ClientError):
            client.get_contact(ContactId=people[0].replace("/p0", "/esc"))
        # UpdateContact too, and the plan stays as it was.
        arn = client.create_contact(Alias="esc", Type="ESCALATION",
                                    Plan={"Stages": [stage(people[0])]})["ContactArn"]
        refused(lambda: client.update_contact(
            ContactId=arn, Plan={"Stages": [stage(people[0], people[1], people[0])]}),
            "L-F338226A")
        assert len(client.get_contact(ContactId=arn)["Plan"]["Stages"]) == 1


def test_zero_turns_a_quota_off() -> None:
    with mock_ssm_contacts(settings=Settings(throttle_rate=0, quota_contacts=0)):
        client = boto3.client("ssm-contacts", region_name="us-east-1")
        for n in range(5):
            client.create_contact(Alias=f"c{n}", Type="PERSONAL", Plan={"Stages": []})
        assert len(client.list_contacts()["Contacts"]) == 5
