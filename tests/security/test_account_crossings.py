"""The ways one account's data might reach another besides naming it (decisions §3): the read
cache, pagination tokens, idempotency tokens, contact policies, the inspection endpoints and
the metrics page. Each account has a world of :mod:`tests.security.isolation_world`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest

from incident_contacts.api.security import SHARED_OPERATIONS
from incident_contacts.model import service_model
from incident_contacts.testing import mock_ssm_contacts
from tests.conftest import NO_RETRIES, Backend, new_account
from tests.security.isolation_world import (
    DAILY,
    DAY,
    World,
    call,
    ghost,
    outcome,
    poll,
    snapshot,
)
from tests.security.support import signed_inspection
from tests.security.test_account_matrix import ATTACKS, LISTINGS, _compare, _worlds

Params = Callable[[World], dict[str, Any]]

LISTING_PARAMS: dict[str, Params] = {
    "ListContactChannels": lambda w: {"ContactId": w["person"]},
    "ListContacts": lambda w: {},
    "ListEngagements": lambda w: {},
    "ListPageReceipts": lambda w: {"PageId": w["page"]},
    "ListPageResolutions": lambda w: {"PageId": w["page"]},
    "ListPagesByContact": lambda w: {"ContactId": w["person"]},
    "ListPagesByEngagement": lambda w: {"EngagementId": w.ids.get("second", w["engagement"])},
    "ListPreviewRotationShifts": lambda w: {
        "Members": [w.alias, f"{w.alias}-2"], "TimeZoneId": "UTC", "Recurrence": DAILY,
        "RotationStartTime": w.start, "StartTime": w.start, "EndTime": w.start + 4 * DAY},
    "ListRotationOverrides": lambda w: {"RotationId": w["rotation"], "StartTime": w.start,
                                        "EndTime": w.start + 5 * DAY},
    "ListRotationShifts": lambda w: {"RotationId": w["rotation"], "StartTime": w.start,
                                     "EndTime": w.start + 4 * DAY},
    "ListRotations": lambda w: {},
}
"""Each operation taking a NextToken, called on a world's own resources."""

NEVER_PAGED = frozenset({"ListPageResolutions"})
"""Takes a NextToken (the model says so) but answers one list: it never mints one."""


def _paged_operations() -> set[str]:
    model = service_model()
    return {name for name in model.operation_names
            if "NextToken" in model.operation_model(name).input_shape.members}


def test_every_paged_operation_is_covered() -> None:
    assert set(LISTING_PARAMS) == _paged_operations()


def _second_of_everything(backend: Backend, client: Any, w: World) -> None:
    """A second item in each of the world's listings, so each mints a token."""
    channel = call(client, "CreateContactChannel", {
        "ContactId": w["person"], "Name": "second", "Type": "EMAIL",
        "DeliveryAddress": {"SimpleAddress": f"{w.alias}-2@example.com"}})["ContactChannelArn"]
    code = poll("the code", lambda: [m["ActivationCode"] for m in backend.messages(channel)])
    call(client, "ActivateContactChannel", {"ContactChannelId": channel,
                                            "ActivationCode": code[-1]})
    # Both channels in one stage: an engagement of two pages.
    call(client, "UpdateContact", {"ContactId": w["person"], "Plan": {"Stages": [{
        "DurationInMinutes": 5, "Targets": [
            {"ChannelTargetInfo": {"ContactChannelId": arn, "RetryIntervalInMinutes": 1}}
            for arn in (w["channel"], channel)]}]}})
    call(client, "CreateRotation", {"Name": f"{w.alias} second", "ContactIds": [w["person"]],
                                    "TimeZoneId": "UTC", "Recurrence": DAILY})
    low, high = w.window
    call(client, "CreateRotationOverride", {
        "RotationId": w["rotation"], "NewContactIds": [w["person"]],
        "StartTime": low + DAY, "EndTime": high + DAY})
    call(client, "AcceptPage", {"PageId": w["page"], "AcceptType": "DELIVERED",
                                "AcceptCode": "123456"})
    second = w.ids["second"] = call(client, "StartEngagement", {
        "ContactId": w["person"], "Sender": "s", "Subject": "x", "Content": "y"})["EngagementArn"]
    poll("the second engagement's pages", lambda: len(call(client, "ListPagesByEngagement", {
        "EngagementId": second})["Pages"]) == 2)


def _refused_token(result: Any) -> bool:
    return (result.code == "ValidationException"
            and [f["Name"] for f in result.members.get("Fields", [])] == ["NextToken"])


@pytest.mark.parametrize("backend", ["inprocess", "server-sqlite"], indirect=True)
def test_pagination_tokens_serve_their_own_listing_only(backend: Backend) -> None:
    a_client, b_client, a, b = _worlds(backend)
    _second_of_everything(backend, a_client, a)
    tokens: dict[str, str] = {}
    for operation, params in LISTING_PARAMS.items():
        if operation in NEVER_PAGED:
            continue
        answer = call(a_client, operation, {**params(a), "MaxResults": 1})
        assert answer.get("NextToken"), f"{operation} minted no token: {answer}"
        tokens[operation] = answer["NextToken"]
        # The token works where it was minted.
        call(a_client, operation, {**params(a), "MaxResults": 1, "NextToken": answer["NextToken"]})
    before = snapshot(backend, a_client, a)
    for minted, token in tokens.items():
        for taker, params in LISTING_PARAMS.items():
            # B, in its own listing of the same kind or any other.
            by_b = outcome(b_client, taker, {**params(b), "NextToken": token})
            if taker in NEVER_PAGED:
                # It mints no token, so any token is refused as not its own.
                assert _refused_token(by_b), by_b
            elif minted == taker == "ListPreviewRotationShifts":
                # A preview reads nothing stored: the same inputs page the same for anyone.
                assert _refused_token(by_b) or by_b.code is None, by_b
            else:
                assert _refused_token(by_b), f"{minted} token in B's {taker}: {by_b}"
            if taker != minted and taker not in NEVER_PAGED:
                # A, in its own listing of another kind.
                by_a = outcome(a_client, taker, {**params(a), "NextToken": token})
                assert _refused_token(by_a), f"{minted} token in A's {taker}: {by_a}"
    assert snapshot(backend, a_client, a) == before


@pytest.mark.parametrize("backend", ["inprocess", "server-sqlite"], indirect=True)
def test_the_read_cache_answers_each_caller_its_own(backend: Backend) -> None:
    """The same body from another account: on SQLite servers the first caller's answer is
    kept in the read cache (api/readcache.py); the second gets its own."""
    a_client, b_client, a, b = _worlds(backend)
    reads = [("GetContact", {"ContactId": a["person"]}),
             ("GetContactChannel", {"ContactChannelId": a["channel"]}),
             ("ListContactChannels", {"ContactId": a["person"]}),
             ("ListTagsForResource", {"ResourceARN": a["person"]}),
             ("GetContactPolicy", {"ContactArn": a["person"]}),
             ("ListContacts", {}), ("ListContacts", {"AliasPrefix": a.alias})]
    assert all(backend.kind == "inprocess" or op in _cached_operations() for op, _ in reads)
    mine = [call(a_client, op, params) for op, params in reads]
    assert [call(a_client, op, params) for op, params in reads] == mine   # kept answers
    for op, params in reads:
        theirs = outcome(b_client, op, params)
        if op == "ListContacts":
            assert theirs.code is None and theirs.answer is not None
            arns = {c["ContactArn"] for c in theirs.answer["Contacts"]}
            assert arns and {arn.split(":")[4] for arn in arns} == {b.account}, theirs
        else:
            assert theirs.code == "AccessDeniedException", theirs
            assert a.account not in json.dumps(theirs.members).replace(params[next(iter(
                params))], ""), theirs
    assert [call(a_client, op, params) for op, params in reads] == mine


def _cached_operations() -> set[str]:
    from incident_contacts.api.operations import OPERATIONS
    return {name for name, op in OPERATIONS.items() if op.cached}


def _share(client: Any, contact: str, account: str, actions: str | list[str]) -> None:
    call(client, "PutContactPolicy", {"ContactArn": contact, "Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": account}, "Action": actions,
            "Resource": [contact, *(contact.replace(":contact/", f":{kind}/") + "/*"
                                    for kind in ("engagement", "page"))]}]})})


@pytest.mark.parametrize("backend", ["inprocess", "server-sqlite"], indirect=True)
def test_a_shared_contact_shows_only_what_its_policy_grants(backend: Backend) -> None:
    """A shares its PERSONAL contact with B for GetContact only, and its ESCALATION plan with
    a third account: B lists and reads the first, and is refused everything else exactly as
    if it did not exist."""
    a_client, b_client, a, b = _worlds(backend)
    _share(a_client, a["person"], b.account, "ssm-contacts:GetContact")
    _share(a_client, a["escalation"], new_account(), "ssm-contacts:*")
    before = snapshot(backend, a_client, a)

    listed = [c["ContactArn"] for c in call(b_client, "ListContacts", {})["Contacts"]]
    assert a["person"] in listed
    assert {arn for arn in listed if f":{a.account}:" in arn} == {a["person"]}
    shown = call(b_client, "GetContact", {"ContactId": a["person"]})
    assert shown["ContactArn"] == a["person"] and shown["Type"] == "PERSONAL"
    assert "DeliveryAddress" not in json.dumps(shown)

    spectre, renamed = ghost(a, aliases=True)
    for operation in sorted(ATTACKS):
        if operation in LISTINGS:
            continue
        for (name, params), (_, ghost_params) in zip(ATTACKS[operation](a, b),
                                                     ATTACKS[operation](spectre, b),
                                                     strict=True):
            if operation == "GetContact" and params["ContactId"] == a["person"]:
                continue
            real = outcome(b_client, operation, params)
            _compare(f"shared {operation} {name}", real,
                     outcome(b_client, operation, ghost_params), a, spectre, renamed, b)
    assert snapshot(backend, a_client, a) == before


@pytest.mark.parametrize("backend", ["inprocess", "server-sqlite"], indirect=True)
def test_sharing_everything_still_keeps_channels_policy_and_changes_home(
        backend: Backend) -> None:
    """Even ``ssm-contacts:*`` shares only viewing, engaging and following engagements
    (``api.security.SHARED_OPERATIONS``): the rest is refused as for a missing contact."""
    a_client, b_client, a, b = _worlds(backend)
    _share(a_client, a["person"], b.account, "ssm-contacts:*")
    before = snapshot(backend, a_client, a)
    spectre, renamed = ghost(a, aliases=True)
    checked = 0
    for operation in sorted(set(ATTACKS) - SHARED_OPERATIONS - LISTINGS):
        for (name, params), (_, ghost_params) in zip(ATTACKS[operation](a, b),
                                                     ATTACKS[operation](spectre, b),
                                                     strict=True):
            real = outcome(b_client, operation, params)
            _compare(f"shared-all {operation} {name}", real,
                     outcome(b_client, operation, ghost_params), a, spectre, renamed, b)
            checked += 1
    assert checked > 30
    assert snapshot(backend, a_client, a) == before
    # What is shared works: B follows A's engagement and its page.
    assert call(b_client, "DescribeEngagement", {"EngagementId": a["engagement"]})[
        "Subject"] == f"{a.alias} subject"
    assert call(b_client, "DescribePage", {"PageId": a["page"]})["PageArn"] == a["page"]


@pytest.mark.parametrize("backend", ["server-sqlite"], indirect=True)
def test_inspection_endpoints_signed_by_an_account_show_it_alone(backend: Backend) -> None:
    """``--auth off``: a request with an Authorization header sees only the account it names
    (api/app.py ``_inspector``; unsigned, the development tool sees every account)."""
    server = backend.server
    assert server is not None
    a_client, _b_client, a, b = _worlds(backend)
    before = snapshot(backend, a_client, a)

    def as_b(method: str, path: str, **query: str) -> httpx.Response:
        return signed_inspection(server, method, path, key=b.account, secret="secret",
                                 query=query or None)

    seen = as_b("GET", "messages")
    assert seen.status_code == 200
    text = seen.text
    assert b["channel"] in text
    assert a.account not in text and a["channel"] not in text
    only = as_b("GET", "messages", ContactChannelArn=a["channel"])
    assert only.status_code == 200 and only.json() == {"messages": []}

    spectre, _ = ghost(a, aliases=True)
    real = as_b("GET", "engagements/events", EngagementArn=a["engagement"])
    missing = as_b("GET", "engagements/events", EngagementArn=spectre["engagement"])
    assert real.status_code == missing.status_code == 404
    assert real.text.replace(a["engagement"], "<e>") == \
        missing.text.replace(spectre["engagement"], "<e>")

    emptied = as_b("DELETE", "messages")
    assert emptied.status_code == 200
    assert as_b("GET", "messages").json() == {"messages": []}
    assert snapshot(backend, a_client, a) == before       # A's messages are all there


@pytest.mark.parametrize("backend", ["server-sqlite"], indirect=True)
def test_the_metrics_page_names_no_account_or_resource(backend: Backend) -> None:
    server = backend.server
    assert server is not None
    _a_client, b_client, a, b = _worlds(backend)
    outcome(b_client, "GetContact", {"ContactId": a["person"]})       # a refusal counted
    page = httpx.get(f"{server.url}/metrics", timeout=10)
    assert page.status_code == 200 and "GetContact" in page.text
    for world in (a, b):
        for secret in (world.account, world.alias, f"{world.alias}@example.com",
                       *re.findall(r"[0-9a-f-]{36}", json.dumps(world.ids))):
            assert secret not in page.text, secret


def test_a_plan_naming_another_accounts_channel_id_finds_no_channel() -> None:
    """A channel id is global; a plan naming it under one's own account (and a contact of
    the same alias) was told "belongs to another contact", which said that the other
    account's channel exists. It is now the error of a channel that does not exist."""
    with mock_ssm_contacts():
        a_client, b_client = (boto3.client(
            "ssm-contacts", region_name="us-east-1", aws_access_key_id=account,
            aws_secret_access_key="x", config=NO_RETRIES) for account in (
            "111111111111", "222222222222"))
        theirs = call(a_client, "CreateContact", {"Alias": "akua", "Type": "PERSONAL",
                                                  "Plan": {"Stages": []}})["ContactArn"]
        channel = call(a_client, "CreateContactChannel", {
            "ContactId": theirs, "Name": "m", "Type": "EMAIL", "DeferActivation": True,
            "DeliveryAddress": {"SimpleAddress": "akua@example.com"}})["ContactChannelArn"]
        mine = call(b_client, "CreateContact", {"Alias": "akua", "Type": "PERSONAL",
                                                "Plan": {"Stages": []}})["ContactArn"]
        spelled = channel.replace(":111111111111:", ":222222222222:")
        missing = spelled.rsplit("/", 1)[0] + "/" + "0" * 8 + spelled.rsplit("/", 1)[1][8:]
        answers = [outcome(b_client, "UpdateContact", {"ContactId": mine, "Plan": {"Stages": [
            {"DurationInMinutes": 1, "Targets": [{"ChannelTargetInfo": {
                "ContactChannelId": arn, "RetryIntervalInMinutes": 1}}]}]}})
            for arn in (spelled, missing)]
        assert [a.code for a in answers] == ["ResourceNotFoundException"] * 2
        assert answers[0].members["ResourceType"] == "CONTACT_CHANNEL"
        assert json.dumps(answers[0].members).replace(spelled, "<arn>") == \
            json.dumps(answers[1].members).replace(missing, "<arn>")
