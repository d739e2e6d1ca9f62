"""The AWS examples of ``examples-1.json`` for contacts, channels, tags and policies (spec §8).

The examples come from botocore's model data, not retyped. Each is an independent scenario:
the state it assumes is seeded first, its ARNs are rewritten to the test's account and region
(and to the channels the seed made), and the answer is checked for its shape and its
deterministic members.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from incident_contacts.model import API_VERSION, SERVICE_NAME, _Loader
from tests.functional.helpers import channel, personal

EXAMPLES: dict[str, list[dict[str, Any]]] = _Loader().load_service_model(
    SERVICE_NAME, "examples-1", API_VERSION
)["examples"]

_ARN_HEAD = re.compile(r"arn:aws:ssm-contacts:[a-z0-9-]+:[0-9]{12}:")
_CHANNEL = re.compile(
    r"arn:aws:ssm-contacts:[a-z0-9-]+:[0-9]{12}:contact-channel/[^\"/]+/[0-9a-f-]{36}")


def _rewrite(value: Any, head: str, channels: dict[str, str]) -> Any:
    if isinstance(value, str):
        for example_id, real in channels.items():
            value = value.replace(example_id, real)
        return _ARN_HEAD.sub(head, value)
    if isinstance(value, list):
        return [_rewrite(v, head, channels) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v, head, channels) for k, v in value.items()}
    return value


def _same_shape(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(expected) == set(actual) - {"ResponseMetadata"}, path
        for key in expected:
            _same_shape(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _same_shape(e, a, f"{path}[{i}]")


class Scenario:
    def __init__(self, client: Any, backend: Any) -> None:
        self.client = client
        self.head = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:"
        self.channels: dict[str, str] = {}

    def call(self, operation: str, example: dict[str, Any]) -> dict[str, Any]:
        params = _rewrite(example["input"], self.head, self.channels)
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        response: dict[str, Any] = getattr(self.client, method)(**params)
        return response


_CONTACT_ALIAS = re.compile(r":contact/([a-z0-9_-]+)")


def _seed(scenario: Scenario, operation: str, example: dict[str, Any]) -> None:
    """Make what the example's input refers to: its contacts and channels, and more."""
    if operation == "CreateContact":
        return
    if operation == "ListContacts":
        for alias in ("akuam", "alejr", "anasi"):
            personal(scenario.client, alias, DisplayName=alias)
        scenario.client.create_contact(Alias="example_escalation", Type="ESCALATION",
                                       DisplayName="Example Escalation", Plan={"Stages": []})
        return
    text = str(example["input"])
    aliases = dict.fromkeys(_CONTACT_ALIAS.findall(text) or ["akuam"])
    contacts = {alias: personal(scenario.client, alias) for alias in aliases}
    wanted = text + str(example.get("output", {}))
    for n, found in enumerate(dict.fromkeys(_CHANNEL.findall(wanted))):
        alias, example_id = found.split("/")[-2:]
        real = channel(scenario.client, contacts.get(alias) or contacts[next(iter(contacts))],
                       f"+1500555010{n}", name=f"c{n}")
        scenario.channels[example_id] = real.split("/")[-1]
    contact = next(iter(contacts.values()))
    if operation in ("ListTagsForResource", "UntagResource"):
        scenario.client.tag_resource(ResourceARN=contact, Tags=[{"Key": "group1", "Value": "1"}])
    if operation == "GetContactPolicy":
        scenario.call("PutContactPolicy", EXAMPLES["PutContactPolicy"][0])


CASES = [
    (operation, index)
    for operation in (
        "CreateContact", "CreateContactChannel", "DeactivateContactChannel", "DeleteContact",
        "DeleteContactChannel", "GetContactChannel", "GetContactPolicy",
        "ListContactChannels", "ListContacts", "ListTagsForResource", "PutContactPolicy",
        "TagResource", "UntagResource", "UpdateContact", "UpdateContactChannel",
    )
    for index in range(len(EXAMPLES[operation]))
]


@pytest.mark.parametrize(("operation", "index"), CASES)
def test_aws_example(client, backend, operation, index):
    example = EXAMPLES[operation][index]
    scenario = Scenario(client, backend)
    _seed(scenario, operation, example)
    response = scenario.call(operation, example)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    expected = _rewrite(example.get("output", {}), scenario.head, scenario.channels)
    _same_shape(expected, response)
    if operation == "CreateContact":
        assert response["ContactArn"] == expected["ContactArn"]
    if operation == "CreateContactChannel":
        assert re.fullmatch(re.escape(scenario.head) + r"contact-channel/akuam/[0-9a-f-]{36}",
                            response["ContactChannelArn"])
    if operation == "ListContacts":
        assert [c["Alias"] for c in response["Contacts"]] == [
            c["Alias"] for c in expected["Contacts"]]
        assert [c["Type"] for c in response["Contacts"]] == [
            c["Type"] for c in expected["Contacts"]]
    if operation == "ListTagsForResource":
        assert response["Tags"] == expected["Tags"]
    if operation == "GetContactChannel":
        assert response["ContactArn"] == expected["ContactArn"]
        assert response["Type"] == expected["Type"]


def test_get_contact_examples(client, backend):
    """The two GetContact examples: a personal plan of three 5-minute channel stages, and an
    escalation plan with essential and non-essential contacts and a last stage of 0 minutes."""
    made: set[str] = set()
    for example in EXAMPLES["GetContact"]:
        scenario = Scenario(client, backend)
        wanted = _rewrite(example["output"], scenario.head, {})
        plan = wanted["Plan"]
        if wanted["Type"] == "PERSONAL":
            contact = personal(client, wanted["Alias"], DisplayName=wanted["DisplayName"])
            made.add(wanted["Alias"])
            for n, stage in enumerate(plan["Stages"]):
                for target in stage["Targets"]:
                    info = target["ChannelTargetInfo"]
                    real = channel(client, contact, f"+1500555020{n}", name=f"s{n}")
                    scenario.channels[info["ContactChannelId"].split("/")[-1]] = \
                        real.split("/")[-1]
            plan = _rewrite(plan, scenario.head, scenario.channels)
            client.update_contact(ContactId=contact, Plan=plan)
        else:
            for stage in plan["Stages"]:
                for target in stage["Targets"]:
                    alias = target["ContactTargetInfo"]["ContactId"].split("/")[-1]
                    if alias not in made:
                        personal(client, alias)
                        made.add(alias)
            contact = client.create_contact(Alias=wanted["Alias"], Type="ESCALATION",
                                            DisplayName=wanted["DisplayName"],
                                            Plan=plan)["ContactArn"]
        got = client.get_contact(ContactId=contact)
        got.pop("ResponseMetadata")
        assert got == {**wanted, "Plan": plan}
