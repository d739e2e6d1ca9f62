"""Contact channels: create, read, update, delete, list, deactivate (spec §3, §6.2)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.functional.helpers import channel, error_of, personal


def test_create_get_and_list(client, backend):
    contact = personal(client, "akuam")
    arn = channel(client, contact, "+15005550199", "SMS", "akuas sms")
    head = f"arn:aws:ssm-contacts:us-east-1:{backend.account}"
    assert arn.startswith(f"{head}:contact-channel/akuam/")
    got = client.get_contact_channel(ContactChannelId=arn)
    got.pop("ResponseMetadata")
    assert got == {
        "ContactArn": contact,
        "ContactChannelArn": arn,
        "Name": "akuas sms",
        "Type": "SMS",
        "DeliveryAddress": {"SimpleAddress": "+15005550199"},
        "ActivationStatus": "NOT_ACTIVATED",
    }
    email = channel(client, contact, "akua@example.com", "EMAIL", "mail")
    listed = client.list_contact_channels(ContactId=contact)["ContactChannels"]
    assert [c["ContactChannelArn"] for c in listed] == [arn, email]
    assert listed[0] == got


def test_channel_names_allow_unicode_letters_and_spaces(client):
    contact = personal(client, "uni")
    arn = channel(client, contact, name="Téléphone portable")
    assert client.get_contact_channel(ContactChannelId=arn)["Name"] == "Téléphone portable"


@pytest.mark.parametrize(("channel_type", "address"), [
    ("SMS", "5005550199"), ("SMS", "+0123456789"), ("VOICE", "+1 500 555"),
    ("EMAIL", "not-an-address"), ("EMAIL", "+15005550199"),
])
def test_bad_addresses(client, channel_type, address):
    contact = personal(client, "badaddr")
    with pytest.raises(ClientError) as excinfo:
        channel(client, contact, address, channel_type)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Fields"][0]["Name"] == "DeliveryAddress.SimpleAddress"


def test_channel_on_missing_or_non_personal_contact(client, backend):
    ghost = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/ghost"
    with pytest.raises(ClientError) as excinfo:
        channel(client, ghost)
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Fields"][0]["Name"] == "ContactId"
    esc = client.create_contact(Alias="esc", Type="ESCALATION", Plan={"Stages": []})["ContactArn"]
    with pytest.raises(ClientError) as excinfo:
        channel(client, esc)
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"


def test_duplicate_address_is_a_conflict(client):
    contact = personal(client, "dupch")
    first = channel(client, contact, "+15005550199", "SMS")
    with pytest.raises(ClientError) as excinfo:
        channel(client, contact, "+15005550199", "SMS", name="again")
    err = error_of(excinfo)
    assert err["Error"]["Code"] == "ConflictException"
    assert err["ResourceId"] == first
    assert err["ResourceType"] == "CONTACT_CHANNEL"
    # The same number as a voice channel, or on another contact, is fine.
    channel(client, contact, "+15005550199", "VOICE")
    channel(client, personal(client, "other"), "+15005550199", "SMS")


def test_update_name_and_address(client):
    contact = personal(client, "updch")
    arn = channel(client, contact, "+15005550199")
    client.update_contact_channel(ContactChannelId=arn, Name="akuas voice channel")
    client.update_contact_channel(ContactChannelId=arn,
                                  DeliveryAddress={"SimpleAddress": "+15005550198"})
    got = client.get_contact_channel(ContactChannelId=arn)
    assert got["Name"] == "akuas voice channel"
    assert got["DeliveryAddress"] == {"SimpleAddress": "+15005550198"}
    other = channel(client, contact, "+15005550197")
    with pytest.raises(ClientError) as excinfo:
        client.update_contact_channel(ContactChannelId=other,
                                      DeliveryAddress={"SimpleAddress": "+15005550198"})
    assert error_of(excinfo)["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as excinfo:
        client.update_contact_channel(ContactChannelId=other,
                                      DeliveryAddress={"SimpleAddress": "nope"})
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"


def test_missing_channel_and_missing_contact_are_told_apart(client, backend):
    contact = personal(client, "apart")
    head = f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact-channel"
    missing_channel = f"{head}/apart/8ddae2d1-12c8-4e45-b852-c8587266c400"
    with pytest.raises(ClientError) as excinfo:
        client.get_contact_channel(ContactChannelId=missing_channel)
    err = error_of(excinfo)
    assert (err["ResourceType"], err["ResourceId"]) == ("CONTACT_CHANNEL", missing_channel)
    missing_contact = f"{head}/nobody/8ddae2d1-12c8-4e45-b852-c8587266c400"
    with pytest.raises(ClientError) as excinfo:
        client.get_contact_channel(ContactChannelId=missing_contact)
    err = error_of(excinfo)
    assert (err["ResourceType"], err["ResourceId"]) == ("CONTACT", missing_contact)
    # A channel addressed under another contact's alias is not found either.
    real = channel(client, contact)
    wrong_alias = real.replace("/apart/", "/nobody/")
    with pytest.raises(ClientError) as excinfo:
        client.get_contact_channel(ContactChannelId=wrong_alias)
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"


def test_delete_channel_keeps_plan_reference(client):
    contact = personal(client, "delch")
    arn = channel(client, contact)
    plan = {"Stages": [{"DurationInMinutes": 1, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": arn}}]}]}
    client.update_contact(ContactId=contact, Plan=plan)
    client.delete_contact_channel(ContactChannelId=arn)
    assert client.get_contact(ContactId=contact)["Plan"] == plan
    assert client.list_contact_channels(ContactId=contact)["ContactChannels"] == []
    with pytest.raises(ClientError) as excinfo:
        client.delete_contact_channel(ContactChannelId=arn)
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"


def test_list_channels_paged(client):
    contact = personal(client, "pagech")
    made = [channel(client, contact, f"+1500555010{n}") for n in range(5)]
    pages = list(client.get_paginator("list_contact_channels").paginate(
        ContactId=contact, PaginationConfig={"PageSize": 2}))
    assert [len(p["ContactChannels"]) for p in pages] == [2, 2, 1]
    assert [c["ContactChannelArn"] for p in pages for c in p["ContactChannels"]] == made


def test_list_channels_of_missing_contact(client, backend):
    with pytest.raises(ClientError) as excinfo:
        client.list_contact_channels(
            ContactId=f"arn:aws:ssm-contacts:us-east-1:{backend.account}:contact/ghost")
    assert error_of(excinfo)["ResourceType"] == "CONTACT"


def test_deactivate(client):
    contact = personal(client, "deact")
    arn = channel(client, contact)
    client.deactivate_contact_channel(ContactChannelId=arn)
    assert client.get_contact_channel(ContactChannelId=arn)["ActivationStatus"] == "NOT_ACTIVATED"


def test_idempotent_create_channel(client):
    contact = personal(client, "idemch")
    kwargs = dict(ContactId=contact, Name="n", Type="SMS",
                  DeliveryAddress={"SimpleAddress": "+15005550199"}, IdempotencyToken="t-1")
    first = client.create_contact_channel(**kwargs)["ContactChannelArn"]
    assert client.create_contact_channel(**kwargs)["ContactChannelArn"] == first
    assert len(client.list_contact_channels(ContactId=contact)["ContactChannels"]) == 1
