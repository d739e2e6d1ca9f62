"""Contacts: create, read, update, delete, list (spec §6.1), on every backend."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import new_account
from tests.functional.helpers import channel, error_of, personal


def test_create_and_get_personal_contact(client, backend):
    arn = personal(client, "akuam", DisplayName="Akua Mansa")
    assert arn == f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/akuam"
    got = client.get_contact(ContactId=arn)
    assert got["ContactArn"] == arn
    assert got["Alias"] == "akuam"
    assert got["DisplayName"] == "Akua Mansa"
    assert got["Type"] == "PERSONAL"
    assert got["Plan"] == {"Stages": []}


def test_display_name_absent_is_omitted_and_empty_is_kept(client):
    arn = personal(client, "nodisplay")
    assert "DisplayName" not in client.get_contact(ContactId=arn)
    arn2 = personal(client, "emptydisplay", DisplayName="")
    assert client.get_contact(ContactId=arn2)["DisplayName"] == ""


def test_duplicate_alias_is_a_conflict(client, backend):
    arn = personal(client, "dup")
    with pytest.raises(ClientError) as excinfo:
        personal(client, "dup")
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ConflictException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert err["ResourceId"] == "dup"       # the identifier as the request gave it
    assert err["ResourceType"] == "CONTACT"
    assert client.get_contact(ContactId=arn)["Alias"] == "dup"


def test_same_alias_in_another_region_or_account_is_fine(client, backend):
    personal(client, "shared-alias")
    other_region = backend.client(region="eu-west-1")
    personal(other_region, "shared-alias")
    other_account = backend.client(account="999988887777")
    arn = personal(other_account, "shared-alias")
    assert ":999988887777:" in arn


def test_get_missing_contact(client, backend):
    missing = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/nobody"
    with pytest.raises(ClientError) as excinfo:
        client.get_contact(ContactId=missing)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert err["ResourceId"] == missing
    assert err["ResourceType"] == "CONTACT"


def test_update_display_name_leaves_plan(client):
    arn = personal(client, "upd")
    ch = channel(client, arn)
    plan = {"Stages": [{"DurationInMinutes": 5, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": ch, "RetryIntervalInMinutes": 1}}]}]}
    client.update_contact(ContactId=arn, Plan=plan)
    client.update_contact(ContactId=arn, DisplayName="New Name")
    got = client.get_contact(ContactId=arn)
    assert got["DisplayName"] == "New Name"
    assert got["Plan"] == plan


@pytest.mark.parametrize("fields", [{"DisplayName": "Nobody"}, {"Plan": {"Stages": []}}, {}])
def test_update_missing_contact(client, backend, fields):
    missing = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/nobody"
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=missing, **fields)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResourceId"] == missing
    assert err["ResourceType"] == "CONTACT"


def test_update_display_name_of_something_not_a_contact(client, backend):
    arn = personal(client, "notachannel")
    ch = channel(client, arn)
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=ch, DisplayName="x")
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert [f["Name"] for f in err["Fields"]] == ["ContactId"]
    assert "DisplayName" not in client.get_contact(ContactId=arn)


def test_another_account_cannot_rename_a_contact(client, backend):
    arn = personal(client, "mine", DisplayName="Mine")
    intruder = backend.client(account="123412341234")
    with pytest.raises(ClientError) as excinfo:
        intruder.update_contact(ContactId=arn, DisplayName="Taken")
    assert error_of(excinfo)["Error"]["Code"] in ("AccessDeniedException",
                                                   "ResourceNotFoundException")
    assert client.get_contact(ContactId=arn)["DisplayName"] == "Mine"


def test_update_plan_replaces_whole_plan(client):
    arn = personal(client, "replace")
    first, second = channel(client, arn, "+15005550100"), channel(client, arn, "+15005550101")
    client.update_contact(ContactId=arn, Plan={"Stages": [
        {"DurationInMinutes": 1, "Targets": [{"ChannelTargetInfo": {"ContactChannelId": first}}]},
        {"DurationInMinutes": 2, "Targets": [{"ChannelTargetInfo": {"ContactChannelId": second}}]},
    ]})
    client.update_contact(ContactId=arn, Plan={"Stages": []})
    assert client.get_contact(ContactId=arn)["Plan"] == {"Stages": []}


def test_personal_plan_targets_only_own_channels(client):
    mine = personal(client, "mine")
    theirs = personal(client, "theirs")
    their_channel = channel(client, theirs)
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=mine, Plan={"Stages": [{"DurationInMinutes": 1, "Targets": [
            {"ChannelTargetInfo": {"ContactChannelId": their_channel}}]}]})
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    name = "Plan.Stages[0].Targets[0].ChannelTargetInfo.ContactChannelId"
    assert err["Fields"][0]["Name"] == name


def test_personal_plan_cannot_target_contacts(client):
    a, b = personal(client, "pa"), personal(client, "pb")
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=a, Plan={"Stages": [{"DurationInMinutes": 1, "Targets": [
            {"ContactTargetInfo": {"ContactId": b, "IsEssential": True}}]}]})
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"


def test_escalation_plan(client, backend):
    a, b = personal(client, "esc-a"), personal(client, "esc-b")
    plan = {"Stages": [
        {"DurationInMinutes": 0, "Targets": [
            {"ContactTargetInfo": {"ContactId": a, "IsEssential": False}},
            {"ContactTargetInfo": {"ContactId": b, "IsEssential": True}}]},
    ]}
    arn = client.create_contact(Alias="esc", Type="ESCALATION", Plan=plan)["ContactArn"]
    assert client.get_contact(ContactId=arn)["Plan"] == plan
    # An escalation plan cannot engage another escalation plan, nor channels.
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="esc2", Type="ESCALATION", Plan={"Stages": [
            {"DurationInMinutes": 1, "Targets": [
                {"ContactTargetInfo": {"ContactId": arn, "IsEssential": False}}]}]})
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"


def test_unknown_target_is_validation_on_create_and_not_found_on_update(client, backend):
    ghost = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/ghost"
    plan = {"Stages": [{"DurationInMinutes": 1, "Targets": [
        {"ContactTargetInfo": {"ContactId": ghost, "IsEssential": False}}]}]}
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="esc-ghost", Type="ESCALATION", Plan=plan)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Fields"][0]["Name"] == "Plan.Stages[0].Targets[0].ContactTargetInfo.ContactId"
    arn = client.create_contact(Alias="esc-empty", Type="ESCALATION",
                                Plan={"Stages": []})["ContactArn"]
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=arn, Plan=plan)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResourceId"] == ghost
    assert err["ResourceType"] == "CONTACT"


def test_zero_minute_stage_needs_a_target(client):
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="zero", Type="PERSONAL",
                              Plan={"Stages": [{"DurationInMinutes": 0, "Targets": []}]})
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Fields"][0]["Name"] == "Plan.Stages[0].DurationInMinutes"
    # A stage of one minute with no target is accepted (Terraform creates these).
    personal_arn = client.create_contact(
        Alias="onemin", Type="PERSONAL",
        Plan={"Stages": [{"DurationInMinutes": 1, "Targets": []}]})["ContactArn"]
    assert client.get_contact(ContactId=personal_arn)["Plan"]["Stages"][0]["Targets"] == []


def test_oncall_schedule_cannot_have_stages(client):
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="sched", Type="ONCALL_SCHEDULE",
                              Plan={"Stages": [{"DurationInMinutes": 1, "Targets": []}]})
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Message"].endswith(
        "Invalid value provided - ONCALL SCHEDULE contact cannot have stages in plan")


def test_target_needs_exactly_one_kind(client):
    a = personal(client, "onekind")
    ch = channel(client, a)
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=a, Plan={"Stages": [{"DurationInMinutes": 1, "Targets": [
            {"ChannelTargetInfo": {"ContactChannelId": ch},
             "ContactTargetInfo": {"ContactId": a, "IsEssential": True}}]}]})
    assert error_of(excinfo)["Fields"][0]["Name"] == "Plan.Stages[0].Targets[0]"


def test_delete_contact_removes_channels_and_tags(client, backend):
    arn = personal(client, "gone", Tags=[{"Key": "team", "Value": "blue"}])
    ch = channel(client, arn)
    client.delete_contact(ContactId=arn)
    with pytest.raises(ClientError) as excinfo:
        client.get_contact_channel(ContactChannelId=ch)
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"
    # Re-created under the same alias it has no tags left over.
    arn = personal(client, "gone")
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    with pytest.raises(ClientError) as excinfo:
        client.delete_contact(ContactId=f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/x")
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"


def test_list_contacts_sorted_filtered_and_paged(client):
    for alias in ["delta", "alpha", "charlie", "bravo", "alpine"]:
        personal(client, alias)
    client.create_contact(Alias="alpha-esc", Type="ESCALATION", Plan={"Stages": []})
    everything = client.list_contacts()
    assert [c["Alias"] for c in everything["Contacts"]] == [
        "alpha", "alpha-esc", "alpine", "bravo", "charlie", "delta"]
    assert "NextToken" not in everything
    assert [c["Alias"] for c in client.list_contacts(AliasPrefix="alp")["Contacts"]] == [
        "alpha", "alpha-esc", "alpine"]
    assert [c["Alias"] for c in client.list_contacts(Type="ESCALATION")["Contacts"]] == [
        "alpha-esc"]
    seen, token = [], None
    while True:
        page = client.list_contacts(MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Contacts"]) <= 2
        seen += [c["Alias"] for c in page["Contacts"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == ["alpha", "alpha-esc", "alpine", "bravo", "charlie", "delta"]


def test_list_contacts_paginator(client):
    for n in range(7):
        personal(client, f"p{n}")
    pages = list(client.get_paginator("list_contacts").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Contacts"]) for p in pages] == [3, 3, 1]


def test_garbled_next_token(client):
    personal(client, "tok-a")
    personal(client, "tok-b")
    token = client.list_contacts(MaxResults=1)["NextToken"]
    for bad in ["garbage", token[:-2] + ("aa" if not token.endswith("aa") else "bb"), "a-b"]:
        with pytest.raises(ClientError) as excinfo:
            client.list_contacts(MaxResults=1, NextToken=bad)
        err = error_of(excinfo)
        assert err["Error"]["Code"] == "ValidationException"
        assert err["Fields"][0]["Name"] == "NextToken"


def test_a_token_from_another_listing_is_refused(client):
    a = personal(client, "tokc")
    for n in range(3):
        channel(client, a, f"+1500555010{n}")
    personal(client, "tokd")
    token = client.list_contact_channels(ContactId=a, MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as excinfo:
        client.list_contacts(NextToken=token)
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"


def test_a_token_pages_on_with_the_filters_it_came_from(client):
    for alias in ("tf-a", "tf-b", "tf-c"):
        personal(client, alias)
    token = client.list_contacts(AliasPrefix="tf-", MaxResults=1)["NextToken"]
    assert client.list_contacts(AliasPrefix="tf-", MaxResults=1,
                                NextToken=token)["Contacts"][0]["Alias"] == "tf-b"
    for changed in ({"AliasPrefix": "tf-b"}, {"AliasPrefix": "tf-", "Type": "ESCALATION"}, {}):
        with pytest.raises(ClientError) as excinfo:
            client.list_contacts(NextToken=token, **changed)
        err = error_of(excinfo)
        assert err["Error"]["Code"] == "ValidationException", changed
        assert err["Fields"][0]["Name"] == "NextToken"


def test_idempotent_create_contact(client):
    first = client.create_contact(Alias="idem", Type="PERSONAL", Plan={"Stages": []},
                                  IdempotencyToken="token-1")
    again = client.create_contact(Alias="idem", Type="PERSONAL", Plan={"Stages": []},
                                  IdempotencyToken="token-1")
    assert again["ContactArn"] == first["ContactArn"]
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="idem-other", Type="PERSONAL", Plan={"Stages": []},
                              IdempotencyToken="token-1")
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Fields"][0]["Name"] == "IdempotencyToken"


def test_accounts_are_isolated(client, backend):
    arn = personal(client, "private")
    intruder = backend.client(account="123412341234")
    assert intruder.list_contacts()["Contacts"] == []
    with pytest.raises(ClientError) as excinfo:
        intruder.get_contact(ContactId=arn)
    assert error_of(excinfo)["Error"]["Code"] in ("AccessDeniedException",
                                                   "ResourceNotFoundException")


def test_oncall_schedule_without_rotations_yet(client):
    arn = client.create_contact(Alias="empty-sched", Type="ONCALL_SCHEDULE",
                                Plan={"RotationIds": []})["ContactArn"]
    assert client.get_contact(ContactId=arn)["Plan"].get("RotationIds", []) == []


def _share(owner, contact: str, account: str) -> None:
    owner.put_contact_policy(ContactArn=contact, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": account},
                       "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
                       "Resource": contact}],
    }))


def _listed(client, **params) -> list[str]:
    arns, token = [], None
    while True:
        page = client.list_contacts(**params, **({"NextToken": token} if token else {}))
        arns += [contact["ContactArn"] for contact in page["Contacts"]]
        token = page.get("NextToken")
        if not token:
            return arns


def test_list_contacts_includes_contacts_shared_with_the_caller(client, backend):
    owner_account = new_account()
    owner = backend.client(account=owner_account)
    mine = personal(client, "beta")
    theirs = {alias: personal(owner, alias) for alias in ("alpha", "beta", "zulu")}
    _share(owner, theirs["beta"], backend.account)
    _share(owner, theirs["zulu"], backend.account)
    elsewhere = backend.client(region="eu-west-1", account=owner_account)
    _share(elsewhere, personal(elsewhere, "yankee"), backend.account)  # another region

    shared_beta = sorted([(backend.account, mine), (owner_account, theirs["beta"])])
    expected = [arn for _, arn in shared_beta] + [theirs["zulu"]]
    assert _listed(client) == expected
    assert _listed(client, MaxResults=1) == expected            # a page at a time
    assert _listed(client, AliasPrefix="z") == [theirs["zulu"]]
    assert _listed(client, Type="ESCALATION") == []
    page = client.list_contacts()["Contacts"]
    assert [c["Alias"] for c in page] == ["beta", "beta", "zulu"]
    # The owner lists its own, and nothing of the caller's.
    assert _listed(owner) == [theirs["alpha"], theirs["beta"], theirs["zulu"]]
    # A policy that no longer names the caller stops the sharing.
    _share(owner, theirs["zulu"], new_account())
    assert _listed(client) == [arn for _, arn in shared_beta]
