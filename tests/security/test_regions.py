"""Each resource lives in one region of one partition (decisions §3): a request served for
another region, or an ARN spelled with another partition, finds nothing and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Backend


def not_found(call: Any, resource_type: str) -> None:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException", error
    assert info.value.response["ResourceType"] == resource_type


def seed(client: Any) -> tuple[str, str, str, str]:
    contact = client.create_contact(Alias="akua", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    channel = client.create_contact_channel(
        ContactId=contact, Name="mail", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "akua@example.com"})["ContactChannelArn"]
    engagement = client.start_engagement(ContactId=contact, Sender="s", Subject="x",
                                         Content="y")["EngagementArn"]
    page = f"{engagement.replace(':engagement/', ':page/').rsplit('/', 1)[0]}/missing"
    return contact, channel, engagement, page


def spelled(arn: str, *, region: str | None = None, partition: str | None = None) -> str:
    pieces = arn.split(":")
    if partition:
        pieces[1] = partition
    if region:
        pieces[3] = region
    return ":".join(pieces)


@pytest.mark.parametrize("variant", [{"partition": "aws-cn"}, {"partition": "aws-us-gov"},
                                     {"region": "eu-west-1"}])
def test_an_arn_spelled_for_elsewhere_finds_nothing(backend: Backend,
                                                    variant: dict[str, str]) -> None:
    home = backend.client()
    contact, channel, engagement, _page = seed(home)
    other_contact, other_channel = spelled(contact, **variant), spelled(channel, **variant)
    other_engagement = spelled(engagement, **variant)
    not_found(lambda: home.get_contact(ContactId=other_contact), "CONTACT")
    not_found(lambda: home.delete_contact(ContactId=other_contact), "CONTACT")
    not_found(lambda: home.update_contact(ContactId=other_contact, DisplayName="x"), "CONTACT")
    not_found(lambda: home.tag_resource(ResourceARN=other_contact,
                                        Tags=[{"Key": "k", "Value": "v"}]), "CONTACT")
    not_found(lambda: home.get_contact_channel(ContactChannelId=other_channel),
              "CONTACT_CHANNEL")
    not_found(lambda: home.delete_contact_channel(ContactChannelId=other_channel),
              "CONTACT_CHANNEL")
    not_found(lambda: home.describe_engagement(EngagementId=other_engagement), "ENGAGEMENT")
    not_found(lambda: home.stop_engagement(EngagementId=other_engagement), "ENGAGEMENT")
    # Nothing changed at home.
    assert home.get_contact(ContactId=contact)["Alias"] == "akua"
    assert home.get_contact_channel(ContactChannelId=channel)["Name"] == "mail"
    assert "StopTime" not in home.describe_engagement(EngagementId=engagement)


def test_another_regions_client_reaches_nothing_here(backend: Backend) -> None:
    home = backend.client()
    contact, channel, engagement, _page = seed(home)
    away = backend.client(region="eu-west-1")
    not_found(lambda: away.get_contact(ContactId=contact), "CONTACT")
    not_found(lambda: away.update_contact(ContactId=contact, DisplayName="x"), "CONTACT")
    not_found(lambda: away.delete_contact(ContactId=contact), "CONTACT")
    with pytest.raises(ClientError) as refused:   # it models no ResourceNotFoundException
        away.create_contact_channel(ContactId=contact, Name="sms", Type="SMS",
                                    DeliveryAddress={"SimpleAddress": "+15005550100"})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "does not exist" in refused.value.response["Error"]["Message"]
    not_found(lambda: away.start_engagement(ContactId=contact, Sender="s", Subject="x",
                                            Content="y"), "CONTACT")
    not_found(lambda: away.get_contact_channel(ContactChannelId=channel), "CONTACT_CHANNEL")
    not_found(lambda: away.describe_engagement(EngagementId=engagement), "ENGAGEMENT")
    assert away.list_contacts()["Contacts"] == []
    assert home.get_contact(ContactId=contact)["Alias"] == "akua"
    assert len(home.list_engagements()["Engagements"]) == 1
