"""Engaging a PERSONAL contact: its plan's stages walked with the clock, the messages, accept
codes, acknowledgement, receipts and skipped channels (spec §6.3, decisions §5)."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Backend

from .helpers import EMAIL, PHONE, VOICE_PHONE, Paging


@pytest.fixture
def paging(backend: Backend) -> Paging:
    return Paging(backend)


def three_stages(paging: Paging, alias: str = "akuam") -> tuple[str, list[str]]:
    person = paging.person(alias, [("SMS", PHONE), ("EMAIL", EMAIL), ("VOICE", VOICE_PHONE)])
    paging.plan(person, [(5, [person.channels[0]]), (5, [person.channels[1]]),
                         (5, [person.channels[2]])])
    return person.arn, person.channels


def test_a_three_stage_plan_pages_at_0_5_and_10_minutes(paging: Paging) -> None:
    contact, channels = three_stages(paging)
    engagement = paging.engage(contact)
    [first] = paging.pages(engagement, 1)
    assert first["ContactArn"] == contact
    assert first["EngagementArn"] == engagement
    assert re.fullmatch(r"arn:aws:ssm-contacts:us-east-1:\d{12}:page/akuam/[0-9a-f-]{36}",
                        first["PageArn"])
    paging.advance(4 * 60)
    paging.pages(engagement, 1)
    paging.advance(60)
    second = paging.pages(engagement, 2)[1]
    paging.advance(5 * 60)
    third = paging.pages(engagement, 3)[2]
    paging.advance(60 * 60)
    paging.pages(engagement, 3)

    sent = [p["SentTime"].timestamp() for p in (first, second, third)]
    assert 299 <= sent[1] - sent[0] <= 330 and 299 <= sent[2] - sent[1] <= 330
    messages = paging.page_messages(engagement)
    assert [messages[p["PageArn"]]["ContactChannelArn"] for p in (first, second, third)] \
        == channels
    assert [messages[p["PageArn"]]["ChannelType"] for p in (first, second, third)] \
        == ["SMS", "EMAIL", "VOICE"]


def test_a_read_after_the_first_page_stops_the_rest(paging: Paging) -> None:
    contact, _channels = three_stages(paging)
    engagement = paging.engage(contact)
    [first] = paging.pages(engagement, 1)
    code = paging.page_messages(engagement)[first["PageArn"]]["AcceptCode"]
    paging.client.accept_page(PageId=first["PageArn"], AcceptType="READ", AcceptCode=code,
                              AcceptCodeValidation="ENFORCE")
    paging.advance(15 * 60)
    [page] = paging.pages(engagement, 1)
    assert "ReadTime" in page
    assert paging.receipt_types(first["PageArn"]) == ["SENT", "READ"]
    acknowledged = paging.wait_events(engagement, "ACKNOWLEDGED")
    assert acknowledged[0]["PageArn"] == first["PageArn"]
    # The engagement itself runs on: it has no StopTime until StopEngagement.
    assert "StopTime" not in paging.client.describe_engagement(EngagementId=engagement)


def test_messages_carry_the_words_and_their_own_accept_codes(paging: Paging) -> None:
    person = paging.person("akuam", [("SMS", PHONE), ("EMAIL", EMAIL), ("VOICE", VOICE_PHONE)])
    paging.plan(person, [(1, person.channels)])
    engagement = paging.engage(person.arn, Subject="Disk full", Content="db-1 has 0 bytes left",
                               PublicSubject="Alert", PublicContent="Check the console")
    pages = paging.pages(engagement, 3)
    messages = paging.page_messages(engagement)
    by_type = {messages[p["PageArn"]]["ChannelType"]: messages[p["PageArn"]] for p in pages}
    codes = {m["AcceptCode"] for m in messages.values()}
    assert len(codes) == 3 and all(re.fullmatch(r"\d{6}", c) for c in codes)
    for message in messages.values():
        assert message["Purpose"] == "PAGE"
        assert message["DeliveryStatus"] == "SENT"
    sms, email, voice = by_type["SMS"], by_type["EMAIL"], by_type["VOICE"]
    # SMS and email tell the code and how to use it.
    assert f"Reply with {sms['AcceptCode']} to acknowledge." in sms["Body"]
    assert f"using code {email['AcceptCode']}" in email["Body"]
    # A voice page reads its code digit by digit.
    assert ", ".join(voice["AcceptCode"]) in voice["Body"]
    assert sms["DeliveryAddress"] == PHONE
    assert sms["Body"].startswith("Alert\nCheck the console")
    assert "Disk full" not in sms["Body"] and "Reply with" in sms["Body"]
    assert email["DeliveryAddress"] == EMAIL
    assert email["Subject"] == "Disk full"
    assert "db-1 has 0 bytes left" in email["Body"] and "AcceptPage" in email["Body"]
    assert "Disk full" in voice["Body"]
    # The words are the same whatever the transport: only one that hears keys offers "press 1".
    assert voice["Body"].endswith(f"Acknowledge with code {', '.join(voice['AcceptCode'])}.")
    assert "press 1" not in voice["Body"].lower()
    assert "Alert" not in voice["Body"]


def test_sms_falls_back_to_subject_and_content(paging: Paging) -> None:
    person = paging.person("akuam")
    paging.plan(person, [(1, person.channels)])
    engagement = paging.engage(person.arn, Subject="Disk full", Content="db-1 is full")
    [page] = paging.pages(engagement, 1)
    body = paging.page_messages(engagement)[page["PageArn"]]["Body"]
    assert body.startswith("Disk full\ndb-1 is full")


def test_channels_not_activated_are_skipped_and_recorded(paging: Paging) -> None:
    person = paging.person("akuam", [("SMS", PHONE), ("EMAIL", EMAIL), ("VOICE", VOICE_PHONE)],
                           activate=[True, False, True])
    paging.client.deactivate_contact_channel(ContactChannelId=person.channels[2])
    paging.plan(person, [(5, person.channels)])
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1)
    assert paging.page_messages(engagement)[page["PageArn"]]["ContactChannelArn"] \
        == person.channels[0]
    skipped = paging.wait_events(engagement, "CHANNEL_SKIPPED", 2)
    assert {(e["ContactChannelArn"], e["Reason"]) for e in skipped} == {
        (person.channels[1], "NOT_ACTIVATED"), (person.channels[2], "NOT_ACTIVATED")}
    assert skipped[0]["Resolution"] == [{"ContactArn": person.arn, "Type": "PERSONAL"}]


def test_a_deleted_channel_is_skipped(paging: Paging) -> None:
    person = paging.person("akuam", [("SMS", PHONE), ("EMAIL", EMAIL)])
    paging.plan(person, [(5, person.channels)])
    paging.client.delete_contact_channel(ContactChannelId=person.channels[1])
    engagement = paging.engage(person.arn)
    paging.pages(engagement, 1)
    [skip] = paging.wait_events(engagement, "CHANNEL_SKIPPED")
    assert skip["Reason"] == "CHANNEL_NOT_FOUND"


def test_a_contact_without_stages_is_engaged_but_paged_nowhere(paging: Paging) -> None:
    person = paging.person("akuam")
    engagement = paging.engage(person.arn)
    paging.wait_events(engagement, "NO_STAGES")
    paging.pages(engagement, 0)


def test_accept_page_delivered_then_read(paging: Paging) -> None:
    person = paging.person("akuam")
    paging.plan(person, [(5, person.channels)])
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1)
    arn = page["PageArn"]
    client = paging.client
    assert client.accept_page(PageId=arn, AcceptType="DELIVERED", AcceptCode="111111",
                              ContactChannelId=person.channels[0])["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    described = client.describe_page(PageId=arn)
    assert "DeliveryTime" in described and "ReadTime" not in described
    client.accept_page(PageId=arn, AcceptType="READ", AcceptCode="222222", Note="on it")
    described = client.describe_page(PageId=arn)
    assert described["ReadTime"] >= described["DeliveryTime"] >= described["SentTime"]
    assert described["Subject"] == "Database down" and described["Content"] == "Primary is down"
    assert described["Sender"] == "tester"
    receipts = paging.receipts(arn)
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "DELIVERED", "READ"]
    assert receipts[0]["ReceiptInfo"].startswith("dev-")      # the development outbox's id
    assert receipts[1]["ReceiptInfo"] == "111111"
    assert receipts[2]["ReceiptInfo"] == "on it"
    assert all(r["ContactChannelArn"] == person.channels[0] for r in receipts)


def test_accept_code_validation(paging: Paging) -> None:
    person = paging.person("akuam")
    paging.plan(person, [(5, person.channels)])
    engagement = paging.engage(person.arn)
    [page] = paging.pages(engagement, 1)
    arn = page["PageArn"]
    code = paging.page_messages(engagement)[arn]["AcceptCode"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(ClientError) as caught:
        paging.client.accept_page(PageId=arn, AcceptType="READ", AcceptCode=wrong,
                                  AcceptCodeValidation="ENFORCE")
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Fields"][0]["Name"] == "AcceptCode"
    assert "ReadTime" not in paging.client.describe_page(PageId=arn)
    assert paging.receipt_types(arn) == ["SENT"]
    # IGNORE is the default: any code is taken.
    paging.client.accept_page(PageId=arn, AcceptType="READ", AcceptCode=wrong)
    assert "ReadTime" in paging.client.describe_page(PageId=arn)
    with pytest.raises(ClientError) as caught:
        elsewhere = person.channels[0].rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
        paging.client.accept_page(PageId=arn, AcceptType="READ", AcceptCode=code,
                                  ContactChannelId=elsewhere)
    assert caught.value.response["Fields"][0]["Name"] == "ContactChannelId"


def test_stop_gives_unread_pages_a_stop_receipt(paging: Paging) -> None:
    person = paging.person("akuam", [("SMS", PHONE), ("EMAIL", EMAIL)])
    paging.plan(person, [(5, person.channels)])
    engagement = paging.engage(person.arn)
    first, second = paging.pages(engagement, 2)
    paging.client.accept_page(PageId=first["PageArn"], AcceptType="READ", AcceptCode="123456")
    paging.client.stop_engagement(EngagementId=engagement, Reason="resolved")
    paging.client.stop_engagement(EngagementId=engagement)       # again: nothing changes
    assert paging.receipt_types(first["PageArn"]) == ["SENT", "READ"]
    receipts = paging.receipts(second["PageArn"])
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "STOP"]
    assert receipts[1]["ReceiptInfo"] == "resolved"
    described = paging.client.describe_engagement(EngagementId=engagement)
    assert described["StopTime"] >= described["StartTime"]


def test_list_pages_by_contact(paging: Paging) -> None:
    person = paging.person("akuam")
    other = paging.person("alejr")
    paging.plan(person, [(5, person.channels)])
    paging.plan(other, [(5, other.channels)])
    engagements = [paging.engage(person.arn), paging.engage(other.arn),
                   paging.engage(person.arn)]
    for engagement in engagements:
        paging.pages(engagement, 1)
    listed = paging.client.list_pages_by_contact(ContactId=person.arn, MaxResults=1)
    assert len(listed["Pages"]) == 1
    rest = paging.client.list_pages_by_contact(ContactId=person.arn,
                                               NextToken=listed["NextToken"])
    pages = listed["Pages"] + rest["Pages"]
    assert "NextToken" not in rest
    assert [p["EngagementArn"] for p in pages] == [engagements[0], engagements[2]]
    assert {p["ContactArn"] for p in pages} == {person.arn}
    with pytest.raises(ClientError) as caught:
        paging.client.list_pages_by_contact(ContactId=person.arn.replace("akuam", "nobody"))
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_engagement_with_idempotency_token_starts_once(paging: Paging) -> None:
    person = paging.person("akuam")
    paging.plan(person, [(5, person.channels)])
    first = paging.engage(person.arn, IdempotencyToken="token-1")
    again = paging.engage(person.arn, IdempotencyToken="token-1")
    assert first == again
    paging.pages(first, 1)
    assert len(paging.client.list_engagements()["Engagements"]) == 1
