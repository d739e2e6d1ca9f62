"""AWS's own examples for engagements and pages (spec §8: 1, 8, 9, 16-19, 23-25), each seeded
so that its input is valid here, asserting the output's shape and deterministic fields."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.conftest import Backend

from .helpers import Paging

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
PAGE_KEYS = {"PageArn", "EngagementArn", "ContactArn", "Sender", "SentTime"}


@pytest.fixture
def paging(backend: Backend) -> Paging:
    return Paging(backend)


@pytest.fixture
def akuam(paging: Paging) -> str:
    """The examples' akuam: an SMS channel in a 5-minute stage."""
    person = paging.person("akuam", [("SMS", "+15005550199")])
    paging.plan(person, [(5, person.channels)], retry=1)
    return person.arn


def start(paging: Paging, contact: str) -> str:
    """Examples 23 and 24: StartEngagement's input, verbatim but for the ContactId."""
    response = paging.client.start_engagement(
        ContactId=contact, Content="Testing engagements", PublicContent="Testing engagements",
        PublicSubject="test", Sender="tester", Subject="test")
    assert set(response) - {"ResponseMetadata"} == {"EngagementArn"}
    arn: str = response["EngagementArn"]
    return arn


def test_example_23_engage_a_personal_contact(paging: Paging, akuam: str) -> None:
    arn = start(paging, akuam)
    account = paging.backend.account
    assert re.fullmatch(rf"arn:aws:ssm-contacts:us-east-1:{account}:engagement/akuam/{UUID}",
                        arn)


def test_example_24_and_8_engage_and_describe_an_escalation(paging: Paging, akuam: str) -> None:
    plan = paging.escalation("example_escalation", [(5, [(akuam, True)])])
    arn = start(paging, plan)
    assert re.search(rf":engagement/example_escalation/{UUID}$", arn)
    described = paging.client.describe_engagement(EngagementId=arn)
    described.pop("ResponseMetadata")
    start_time = described.pop("StartTime")
    assert isinstance(start_time, datetime)
    assert described == {
        "ContactArn": plan, "Content": "Testing engagements", "EngagementArn": arn,
        "PublicContent": "Testing engagements", "PublicSubject": "test", "Sender": "tester",
        "Subject": "test",
    }


def test_examples_9_17_18_19_and_1_pages_receipts_and_acceptance(paging: Paging,
                                                                 akuam: str) -> None:
    engagement = start(paging, akuam)
    [listed] = paging.pages(engagement, 1)                          # example 19
    assert set(listed) - {"ResponseMetadata"} == PAGE_KEYS
    assert listed["EngagementArn"] == engagement and listed["ContactArn"] == akuam
    page = listed["PageArn"]
    assert re.search(rf":page/akuam/{UUID}$", page)
    code = paging.page_messages(engagement)[page]["AcceptCode"]
    # Example 1: AcceptPage READ with the page's code; output {}.
    response = paging.client.accept_page(AcceptCode=code, AcceptType="READ", PageId=page)
    assert set(response) == {"ResponseMetadata"}
    paging.client.accept_page(AcceptCode=code, AcceptType="DELIVERED", PageId=page)
    described = paging.client.describe_page(PageId=page)          # example 9
    described.pop("ResponseMetadata")
    assert {"SentTime", "DeliveryTime", "ReadTime"} <= set(described)
    assert {k: v for k, v in described.items() if not k.endswith("Time")} == {
        "ContactArn": akuam, "Content": "Testing engagements", "EngagementArn": engagement,
        "PageArn": page, "PublicContent": "Testing engagements", "PublicSubject": "test",
        "Sender": "tester", "Subject": "test",
    }
    [by_contact] = paging.client.list_pages_by_contact(ContactId=akuam)["Pages"]  # example 18
    assert set(by_contact) == PAGE_KEYS | {"DeliveryTime", "ReadTime"}
    assert by_contact["PageArn"] == page
    receipts = paging.receipts(page)                                 # example 17
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "READ", "DELIVERED"]
    assert [r["ReceiptInfo"] for r in receipts[1:]] == [code, code]
    channel = paging.page_messages(engagement)[page]["ContactChannelArn"]
    assert all(r["ContactChannelArn"] == channel for r in receipts)
    assert all(isinstance(r["ReceiptTime"], datetime) for r in receipts)


def test_example_16_list_engagements(paging: Paging, akuam: str) -> None:
    plan = paging.escalation("example_escalation", [(5, [(akuam, False)])])
    started = [start(paging, akuam), start(paging, plan), start(paging, akuam)]
    listed = paging.client.list_engagements()["Engagements"]
    assert [e["EngagementArn"] for e in listed] == started[::-1]
    assert [e["ContactArn"] for e in listed] == [akuam, plan, akuam]
    assert all(set(e) == {"ContactArn", "EngagementArn", "Sender", "StartTime"}
               for e in listed)


def test_example_25_stop_an_engagement(paging: Paging, akuam: str) -> None:
    plan = paging.escalation("example_escalation", [(5, [(akuam, False)]),
                                                    (5, [(akuam, False)])])
    arn = start(paging, plan)
    response = paging.client.stop_engagement(EngagementId=arn)
    assert set(response) == {"ResponseMetadata"}
    assert "StopTime" in paging.client.describe_engagement(EngagementId=arn)
