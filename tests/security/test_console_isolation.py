"""The console signed in to one account never shows or changes another's data: every page
with the other account's ARNs, and every form action (``console.forms.ACTIONS``) aimed at
them, answer without any of its names, addresses or texts, and leave it as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from incident_contacts.console import forms
from incident_contacts.engine.runner import run_all_due
from tests.console.test_console import (
    ACCOUNT,
    OTHER,
    REGION,
    START,
    api,
    csrf,
    make_app,
    messages,
    sign_in,
)

SECRETS = ("Kofi Secretname", "kofi.secret@example.com", "their-subject-words",
           "their-content-words", "secret-tag-value", "Secret rota", "their-stop-reason")
"""What the other account's data says, none of which may appear in the first's console."""


@pytest.fixture
def app(tmp_path: Any) -> Any:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        yield client


def _theirs(app: Any, account: str = OTHER) -> dict[str, str]:
    """The other account's world: a contact with an activated channel, a rotation with an
    override, an engagement with its page, tags."""
    def their(operation: str, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = api(app, operation, account=account, **params)
        return answer

    ids: dict[str, str] = {}
    ids["contact"] = their("CreateContact", Alias="kofi", DisplayName=SECRETS[0],
                           Type="PERSONAL", Plan={"Stages": []},
                           Tags=[{"Key": "team", "Value": SECRETS[4]}])["ContactArn"]
    ids["channel"] = their("CreateContactChannel", ContactId=ids["contact"], Name="mail",
                           Type="EMAIL", DeliveryAddress={"SimpleAddress": SECRETS[1]}
                           )["ContactChannelArn"]
    (message,) = messages(app, ids["channel"])
    their("ActivateContactChannel", ContactChannelId=ids["channel"],
          ActivationCode=message["ActivationCode"])
    their("UpdateContact", ContactId=ids["contact"], Plan={"Stages": [{
        "DurationInMinutes": 5, "Targets": [{"ChannelTargetInfo": {
            "ContactChannelId": ids["channel"], "RetryIntervalInMinutes": 1}}]}]})
    ids["rotation"] = their("CreateRotation", Name=SECRETS[5], ContactIds=[ids["contact"]],
                            TimeZoneId="UTC", StartTime=START, Recurrence={
                                "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                                "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
                            Tags=[{"Key": "team", "Value": SECRETS[4]}])["RotationArn"]
    ids["override"] = their("CreateRotationOverride", RotationId=ids["rotation"],
                            NewContactIds=[ids["contact"]], StartTime=START + 86_400,
                            EndTime=START + 90_000)["RotationOverrideId"]
    ids["engagement"] = their("StartEngagement", ContactId=ids["contact"], Sender="them",
                              Subject=SECRETS[2], Content=SECRETS[3],
                              IncidentId="their-incident")["EngagementArn"]
    run_all_due(app.runtime)
    (page,) = their("ListPagesByEngagement", EngagementId=ids["engagement"])["Pages"]
    ids["page"] = page["PageArn"]
    return ids


def _state(app: Any, ids: dict[str, str]) -> list[Any]:
    def their(operation: str, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = api(app, operation, account=OTHER, **params)
        return answer

    return [
        their("ListContacts"), their("GetContact", ContactId=ids["contact"]),
        their("ListContactChannels", ContactId=ids["contact"]),
        their("GetContactPolicy", ContactArn=ids["contact"]),
        their("ListTagsForResource", ResourceARN=ids["contact"]),
        their("ListTagsForResource", ResourceARN=ids["rotation"]),
        their("ListRotations"), their("GetRotation", RotationId=ids["rotation"]),
        their("ListRotationOverrides", RotationId=ids["rotation"], StartTime=START,
              EndTime=START + 5 * 86_400),
        their("DescribeEngagement", EngagementId=ids["engagement"]),
        their("ListPageReceipts", PageId=ids["page"]),
        [{k: v for k, v in m.items() if k != "DeliveryStatus"}
         for m in messages(app, ids["channel"])],
    ]


def _clean(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_page_shows_another_accounts_data(app: Any, client: TestClient) -> None:
    api(app, "CreateContact", Alias="ama", Type="PERSONAL", Plan={"Stages": []})
    ids = _theirs(app)
    lists = ["/console/", "/console/contacts", "/console/contacts?prefix=k",
             "/console/engagements", "/console/engagements?incident=their-incident",
             "/console/rotations", "/console/delivery"]
    for path in lists:
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert not _clean(answer.text), path
        assert "kofi" not in answer.text and OTHER not in answer.text, path
    for page in ("contact", "engagement", "rotation"):
        for arn in ids.values():
            answer = client.get(f"/console/{page}", params={"arn": arn})
            assert answer.status_code in (400, 403, 404), (page, arn, answer.status_code)
            assert not _clean(answer.text), (page, arn)


def _fields(client: TestClient, ids: dict[str, str]) -> dict[str, str]:
    """A form with every field some action reads, filled for the resources of ``ids``."""
    token = csrf(client.get("/console/contacts").text)
    fields = {
        "csrf": token, "confirm": "yes", "code": "123456", "name": "stolen",
        "key": "team", "value": "stolen", "reason": "stolen", "sender": "s",
        "subject": "s", "content": "c", "type": "EMAIL", "address": "thief@example.com",
        "alias": "thief", "override": ids["override"], "zone": "UTC", "time": "09:00",
        "start": "2027-01-01T09:00", "end": "2027-01-01T12:00", "kind": "daily",
        "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                  f'"Principal": {{"AWS": "{ACCOUNT}"}}, "Action": "ssm-contacts:*", '
                  f'"Resource": "{ids["contact"]}"}}]}}',
        "members": ids["contact"], "stages": "1",
    }
    return fields


ARNS = ("contact", "channel", "rotation", "engagement", "page")


def test_the_forms_of_this_test_work_on_ones_own_account(app: Any,
                                                         client: TestClient) -> None:
    """The actions below are refused for the account, not for their form: on one's own
    resources the same forms do what they say."""
    ids = _theirs(app, ACCOUNT)
    fields = _fields(client, ids)
    done = set()
    for action in sorted(forms.ACTIONS):
        for key in ARNS:
            answer = client.post(f"/console/act/{action}", data={**fields, "arn": ids[key]},
                                 follow_redirects=True)
            if 'class="flash done"' in answer.text:
                done.add(action)
    # Not these six: a wrong activation or accept code, create-contact names no ARN, the
    # contact is in a rotation, its channel is deleted first, the start is the one shown.
    assert len(done) >= len(forms.ACTIONS) - 6, sorted(set(forms.ACTIONS) - done)


def test_no_form_action_reaches_another_account(app: Any, client: TestClient) -> None:
    ids = _theirs(app)
    before = _state(app, ids)
    fields = _fields(client, ids)
    tried = 0
    for action in sorted(forms.ACTIONS):
        for arn in (ids[key] for key in ARNS):
            answer = client.post(f"/console/act/{action}", data={**fields, "arn": arn},
                                 follow_redirects=True)
            tried += 1
            assert answer.status_code < 500, (action, arn, answer.text[:500])
            assert not _clean(answer.text), (action, arn)
            assert "Done:" not in answer.text and 'class="flash done"' not in answer.text, \
                (action, arn)
    for action in sorted(forms.PREVIEWS):
        answer = client.post(f"/console/preview/{action}",
                             data={**fields, "arn": ids["rotation"]})
        assert answer.status_code < 500 and not _clean(answer.text), action
    assert tried == 5 * len(forms.ACTIONS)
    assert _state(app, ids) == before
