from __future__ import annotations

import pytest

from incident_contacts import model
from incident_contacts.auth.resources import RESOURCE_RULES, Member, partition_for, resource_for

ACCOUNT = "111122223333"
REGION = "us-east-2"
BASE = f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}"


def test_the_table_covers_exactly_the_model_operations() -> None:
    assert sorted(RESOURCE_RULES) == sorted(model.operation_names())
    assert len(RESOURCE_RULES) == 39


def test_every_member_rule_names_an_input_member() -> None:
    for operation, rule in RESOURCE_RULES.items():
        if isinstance(rule, Member):
            members = model.operation_model(operation).input_shape.members
            assert rule.name in members, operation


@pytest.mark.parametrize(
    ("operation", "params", "resource"),
    [
        ("GetContact", {"ContactId": f"{BASE}:contact/akuam"}, f"{BASE}:contact/akuam"),
        ("CreateContact", {"Alias": "akuam", "Type": "PERSONAL"}, f"{BASE}:contact/akuam"),
        ("CreateContactChannel", {"ContactId": f"{BASE}:contact/akuam"}, f"{BASE}:contact/akuam"),
        ("CreateRotation", {"Name": "weekly"}, f"{BASE}:rotation/*"),
        ("GetContactPolicy", {"ContactArn": f"{BASE}:contact/plan"}, f"{BASE}:contact/plan"),
        ("AcceptPage", {"PageId": f"{BASE}:page/akuam/1"}, f"{BASE}:page/akuam/1"),
        ("StopEngagement", {"EngagementId": f"{BASE}:engagement/a/1"}, f"{BASE}:engagement/a/1"),
        ("DeleteRotationOverride", {"RotationId": f"{BASE}:rotation/r", "RotationOverrideId": "x"},
         f"{BASE}:rotation/r"),
        ("SendActivationCode", {"ContactChannelId": f"{BASE}:contact-channel/a/1"},
         f"{BASE}:contact-channel/a/1"),
        ("TagResource", {"ResourceARN": f"{BASE}:rotation/r", "Tags": []}, f"{BASE}:rotation/r"),
        ("ListContacts", {}, "*"),
        ("ListEngagements", {"IncidentId": "x"}, "*"),
        ("ListRotations", {}, "*"),
        ("ListPreviewRotationShifts", {"Members": ["a"]}, "*"),
        ("GetContact", {}, "*"),
        ("CreateContact", {"Alias": 7}, "*"),
    ],
)
def test_resource_for(operation: str, params: dict[str, object], resource: str) -> None:
    assert resource_for(operation, params, ACCOUNT, REGION) == resource


def test_other_partitions() -> None:
    assert partition_for("cn-north-1") == "aws-cn"
    assert partition_for("us-gov-west-1") == "aws-us-gov"
    assert resource_for("CreateRotation", {}, ACCOUNT, "cn-north-1") == (
        f"arn:aws-cn:ssm-contacts:cn-north-1:{ACCOUNT}:rotation/*"
    )


def test_unknown_operation() -> None:
    with pytest.raises(KeyError):
        resource_for("Nope", {}, ACCOUNT, REGION)
