"""An engagement deleted by history retention between a call finding it and locking it (on
PostgreSQL the delete can commit in that gap) answers ResourceNotFound, never a 500.

The gap cannot be hit on purpose through the API, so these tests make ``locked`` find nothing,
as it does once the delete has committed."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from incident_contacts.service import engagements as engagement_service
from incident_contacts.service import pages as page_service
from incident_contacts.testing import mock_ssm_contacts

PHONE = "+15005550199"


def _engaged(contacts: Any) -> tuple[Any, str, str]:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    contact = client.create_contact(Alias="akua", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    channel = client.create_contact_channel(
        ContactId=contact, Name="sms", Type="SMS", DeliveryAddress={"SimpleAddress": PHONE},
    )["ContactChannelArn"]
    [message] = contacts.messages(ContactChannelArn=channel)
    client.activate_contact_channel(ContactChannelId=channel,
                                    ActivationCode=message["ActivationCode"])
    client.update_contact(ContactId=contact, Plan={"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]})
    engagement = client.start_engagement(ContactId=contact, Sender="ops", Subject="Disk full",
                                         Content="db-1")["EngagementArn"]
    [page] = client.list_pages_by_engagement(EngagementId=engagement)["Pages"]
    client.stop_engagement(EngagementId=engagement)
    return client, engagement, page["PageArn"]


def _gone(conn: Any, engagement_pk: int) -> None:
    return None


def test_accept_page_of_an_engagement_deleted_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_ssm_contacts() as contacts:
        client, _engagement, page = _engaged(contacts)
        monkeypatch.setattr(page_service, "locked", _gone)
        with pytest.raises(ClientError) as caught:
            client.accept_page(PageId=page, AcceptType="READ", AcceptCode="000000")
        error = caught.value.response
        assert error["Error"]["Code"] == "ResourceNotFoundException"
        assert (error["ResourceId"], error["ResourceType"]) == (page, "PAGE")


def test_stop_engagement_deleted_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_ssm_contacts() as contacts:
        client, engagement, _page = _engaged(contacts)
        monkeypatch.setattr(engagement_service, "locked", _gone)
        with pytest.raises(ClientError) as caught:
            client.stop_engagement(EngagementId=engagement)
        error = caught.value.response
        assert error["Error"]["Code"] == "ResourceNotFoundException"
        assert (error["ResourceId"], error["ResourceType"]) == (engagement, "ENGAGEMENT")


def test_a_phone_acknowledgement_after_an_accept_page_records_nothing_more() -> None:
    """The webhook found the page unread, then an AcceptPage committed before it took the
    engagement's lock: the page it acknowledges is read again under the lock, so it records
    no second READ."""
    from incident_contacts.api import replies
    from incident_contacts.store.schema.engagements import pages

    with mock_ssm_contacts() as contacts:
        client, _engagement, page = _engaged(contacts)
        runtime = contacts.runtime
        assert runtime is not None
        with runtime.store.transaction() as conn:
            stale = conn.execute(pages.select()).one()     # found unread by the webhook
        client.accept_page(PageId=page, AcceptType="READ", AcceptCode="000000")
        with runtime.store.transaction() as conn:
            assert replies.read(runtime, conn, stale, note="123456", info=None)
        receipts = client.list_page_receipts(PageId=page)["Receipts"]
        assert [r["ReceiptType"] for r in receipts].count("READ") == 1
