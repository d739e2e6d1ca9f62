"""Escalation plans and on-call schedules: who is engaged when, what an acknowledgement
stops, StopEngagement, and the resolution path of each page (spec §6.3, decisions §5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Backend

from .helpers import EMAIL, PHONE, Paging


@pytest.fixture
def paging(backend: Backend) -> Paging:
    return Paging(backend)


def one_stage_person(paging: Paging, alias: str, minutes: int = 5) -> str:
    person = paging.person(alias)
    paging.plan(person, [(minutes, person.channels)])
    return person.arn


def who(pages: list[dict[str, object]]) -> list[str]:
    return [str(p["ContactArn"]).rsplit("/", 1)[1] for p in pages]


def test_escalation_walks_its_stages(paging: Paging) -> None:
    akuam, alejr, anasi = (one_stage_person(paging, a) for a in ("akuam", "alejr", "anasi"))
    plan = paging.escalation("example_escalation", [
        (5, [(akuam, False)]), (5, [(alejr, False)]), (0, [(anasi, False)])])
    engagement = paging.engage(plan)
    assert ":engagement/example_escalation/" in engagement
    assert who(paging.pages(engagement, 1)) == ["akuam"]
    paging.advance(5 * 60)
    assert who(paging.pages(engagement, 2)) == ["akuam", "alejr"]
    paging.advance(5 * 60)
    pages = paging.pages(engagement, 3)
    assert who(pages) == ["akuam", "alejr", "anasi"]
    resolutions = [paging.client.list_page_resolutions(PageId=p["PageArn"])["PageResolutions"]
                   for p in pages]
    assert resolutions == [
        [{"ContactArn": plan, "Type": "ESCALATION"},
         {"ContactArn": contact, "Type": "PERSONAL", "StageIndex": stage}]
        for stage, contact in enumerate((akuam, alejr, anasi))
    ]


def test_a_non_essential_read_stops_only_that_persons_plan(paging: Paging) -> None:
    akuam = paging.person("akuam", [("SMS", PHONE), ("EMAIL", EMAIL)])
    paging.plan(akuam, [(2, [akuam.channels[0]]), (2, [akuam.channels[1]])])
    alejr = one_stage_person(paging, "alejr")
    plan = paging.escalation("escalation", [(5, [(akuam.arn, False)]), (5, [(alejr, True)])])
    engagement = paging.engage(plan)
    [first] = paging.pages(engagement, 1)
    paging.client.accept_page(PageId=first["PageArn"], AcceptType="READ", AcceptCode="000000")
    paging.advance(2 * 60)
    paging.pages(engagement, 1)                  # akuam's second stage does not come
    paging.advance(3 * 60)
    assert who(paging.pages(engagement, 2)) == ["akuam", "alejr"]    # the escalation goes on


def test_an_essential_read_stops_the_escalation(paging: Paging) -> None:
    akuam, alejr, anasi = (one_stage_person(paging, a) for a in ("akuam", "alejr", "anasi"))
    plan = paging.escalation("escalation", [
        (5, [(akuam, True), (alejr, False)]), (5, [(anasi, False)])])
    engagement = paging.engage(plan)
    pages = paging.pages(engagement, 2)
    essential = next(p for p in pages if p["ContactArn"] == akuam)
    paging.client.accept_page(PageId=essential["PageArn"], AcceptType="READ",
                              AcceptCode="000000")
    paging.advance(30 * 60)
    assert who(paging.pages(engagement, 2)) == ["akuam", "alejr"]
    [stopped] = paging.wait_events(engagement, "ESCALATION_STOPPED")
    assert stopped["PageArn"] == essential["PageArn"]


def test_stop_engagement_midway(paging: Paging) -> None:
    akuam, alejr, anasi = (one_stage_person(paging, a) for a in ("akuam", "alejr", "anasi"))
    plan = paging.escalation("escalation", [
        (5, [(akuam, False)]), (5, [(alejr, False)]), (5, [(anasi, False)])])
    engagement = paging.engage(plan)
    paging.pages(engagement, 1)
    paging.advance(5 * 60)
    first, second = paging.pages(engagement, 2)
    paging.client.accept_page(PageId=first["PageArn"], AcceptType="READ", AcceptCode="000000")
    paging.client.stop_engagement(EngagementId=engagement, Reason="Resolved")
    paging.advance(30 * 60)
    assert who(paging.pages(engagement, 2)) == ["akuam", "alejr"]
    assert paging.receipt_types(first["PageArn"]) == ["SENT", "READ"]
    assert paging.receipt_types(second["PageArn"]) == ["SENT", "STOP"]
    described = paging.client.describe_engagement(EngagementId=engagement)
    assert "StopTime" in described
    with pytest.raises(ClientError) as caught:
        paging.client.stop_engagement(EngagementId=engagement.replace(
            engagement[-36:], "00000000-0000-4000-8000-000000000000"))
    error = caught.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResourceType"] == "ENGAGEMENT"


def schedule(paging: Paging, members: list[str], start: datetime) -> str:
    rotation = paging.client.create_rotation(
        Name="primary", ContactIds=members, TimeZoneId="UTC", StartTime=start,
        Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
    )["RotationArn"]
    arn: str = paging.client.create_contact(
        Alias="oncall", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [rotation]})["ContactArn"]
    return arn


def server_now(paging: Paging) -> datetime:
    if paging.backend.server is None:
        return datetime.fromtimestamp(paging.backend.mock.clock.now(), UTC)
    return datetime.fromtimestamp(paging.backend.server.advance(0), UTC)


def test_an_on_call_schedule_engages_whoever_is_on_call(paging: Paging) -> None:
    akuam, alejr = one_stage_person(paging, "akuam"), one_stage_person(paging, "alejr")
    oncall = schedule(paging, [akuam, alejr], server_now(paging) - timedelta(days=30))
    engagement = paging.engage(oncall)
    [page] = paging.pages(engagement, 1)
    on_call = page["ContactArn"]
    assert on_call in (akuam, alejr)
    assert paging.client.list_page_resolutions(PageId=page["PageArn"])["PageResolutions"] == [
        {"ContactArn": oncall, "Type": "ONCALL_SCHEDULE"},
        {"ContactArn": on_call, "Type": "PERSONAL"},
    ]
    # Through an escalation plan: plan > schedule (with the stage) > person.
    plan = paging.escalation("escalation", [(5, [(oncall, True)])])
    engagement = paging.engage(plan)
    [page] = paging.pages(engagement, 1)
    assert paging.client.list_page_resolutions(PageId=page["PageArn"])["PageResolutions"] == [
        {"ContactArn": plan, "Type": "ESCALATION"},
        {"ContactArn": oncall, "Type": "ONCALL_SCHEDULE", "StageIndex": 0},
        {"ContactArn": on_call, "Type": "PERSONAL"},
    ]


def test_a_person_reached_twice_in_a_stage_is_paged_once(paging: Paging) -> None:
    """On call in a schedule the stage names, and named in the stage too: one page."""
    akuam = one_stage_person(paging, "akuam")
    oncall = schedule(paging, [akuam], server_now(paging) - timedelta(days=30))
    plan = paging.escalation("escalation", [(5, [(oncall, False), (akuam, False)])])
    engagement = paging.engage(plan)
    [page] = paging.pages(engagement, 1)
    paging.quiesce()
    assert len(paging.list_pages(engagement)) == 1
    assert page["ContactArn"] == akuam


@pytest.mark.parametrize("schedule_first", [True, False])
def test_a_person_reached_twice_is_essential_if_either_mention_is(paging: Paging,
                                                                   schedule_first: bool) -> None:
    """Paged once, through the first target that reaches them; named essential by the other,
    their READ still stops the escalation (it went on to the next stage before)."""
    akuam, alejr = one_stage_person(paging, "akuam"), one_stage_person(paging, "alejr")
    oncall = schedule(paging, [akuam], server_now(paging) - timedelta(days=30))
    targets = [(oncall, not schedule_first), (akuam, schedule_first)]
    plan = paging.escalation("escalation", [
        (5, targets if schedule_first else targets[::-1]), (5, [(alejr, False)])])
    engagement = paging.engage(plan)
    [page] = paging.pages(engagement, 1)
    paging.client.accept_page(PageId=page["PageArn"], AcceptType="READ", AcceptCode="000000")
    paging.advance(30 * 60)
    assert who(paging.pages(engagement, 1)) == ["akuam"]
    paging.wait_events(engagement, "ESCALATION_STOPPED")


def test_a_schedule_whose_rotation_has_not_started_engages_nobody(paging: Paging) -> None:
    akuam = one_stage_person(paging, "akuam")
    oncall = schedule(paging, [akuam], server_now(paging) + timedelta(days=30))
    engagement = paging.engage(oncall)
    [nobody] = paging.wait_events(engagement, "NOBODY_ON_CALL")
    assert nobody["Resolution"] == [{"ContactArn": oncall, "Type": "ONCALL_SCHEDULE"}]
    paging.pages(engagement, 0)


def test_list_engagements_newest_first_with_filters(paging: Paging) -> None:
    akuam = one_stage_person(paging, "akuam")
    started = []
    for index in range(3):
        started.append(paging.engage(akuam, IncidentId=f"incident-{index % 2}"))
        paging.advance(60)
    client = paging.client
    listed = client.list_engagements()["Engagements"]
    assert [e["EngagementArn"] for e in listed] == started[::-1]
    assert all(e["ContactArn"] == akuam and e["Sender"] == "tester" for e in listed)
    assert "Subject" not in listed[0]
    by_incident = client.list_engagements(IncidentId="incident-0")["Engagements"]
    assert [e["EngagementArn"] for e in by_incident] == [started[2], started[0]]
    middle = listed[1]["StartTime"]
    windowed = client.list_engagements(TimeRangeValue={
        "StartTime": middle, "EndTime": middle + timedelta(seconds=1)})["Engagements"]
    assert [e["EngagementArn"] for e in windowed] == [started[1]]
    since = client.list_engagements(TimeRangeValue={"StartTime": middle})["Engagements"]
    assert [e["EngagementArn"] for e in since] == [started[2], started[1]]
    first = client.list_engagements(MaxResults=2)
    rest = client.list_engagements(MaxResults=2, NextToken=first["NextToken"])
    assert [e["EngagementArn"] for e in first["Engagements"] + rest["Engagements"]] \
        == started[::-1]
    assert "NextToken" not in rest
    # Another account sees none of them.
    other = paging.backend.client(account="999999999999")
    assert all(e["ContactArn"] != akuam for e in other.list_engagements()["Engagements"])


def test_unknown_and_malformed_identifiers(paging: Paging) -> None:
    client = paging.client
    account = paging.backend.account
    missing = f"arn:aws:ssm-contacts:us-east-1:{account}:page/akuam/" \
              "00000000-0000-4000-8000-000000000000"
    for call in (lambda: client.describe_page(PageId=missing),
                 lambda: client.list_page_receipts(PageId=missing),
                 lambda: client.list_page_resolutions(PageId=missing),
                 lambda: client.accept_page(PageId=missing, AcceptType="READ",
                                            AcceptCode="123456")):
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert caught.value.response["ResourceType"] == "PAGE"
        assert caught.value.response["ResourceId"] == missing
    with pytest.raises(ClientError) as caught:
        client.start_engagement(ContactId=f"arn:aws:ssm-contacts:us-east-1:{account}:contact/x",
                                Sender="s", Subject="s", Content="c")
    assert caught.value.response["ResourceType"] == "CONTACT"
    with pytest.raises(ClientError) as caught:
        client.describe_engagement(EngagementId=missing)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        client.list_engagements(TimeRangeValue={"StartTime": datetime(2024, 2, 1, tzinfo=UTC),
                                                "EndTime": datetime(2024, 1, 1, tzinfo=UTC)})
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_a_schedule_left_without_rotations_engages_nobody(paging: Paging) -> None:
    akuam = one_stage_person(paging, "akuam")
    oncall = schedule(paging, [akuam], server_now(paging) - timedelta(days=1))
    [rotation] = paging.client.get_contact(ContactId=oncall)["Plan"]["RotationIds"]
    paging.client.delete_rotation(RotationId=rotation)
    assert not paging.client.get_contact(ContactId=oncall)["Plan"].get("RotationIds")
    plan = paging.escalation("escalation", [(5, [(oncall, False)])])
    engagement = paging.engage(plan)
    [nobody] = paging.wait_events(engagement, "NOBODY_ON_CALL")
    assert nobody["Resolution"] == [
        {"ContactArn": plan, "Type": "ESCALATION"},
        {"ContactArn": oncall, "Type": "ONCALL_SCHEDULE", "StageIndex": 0}]
    assert nobody["Stage"] == 0
    paging.pages(engagement, 0)


def test_a_deleted_contact_of_an_escalation_is_skipped(paging: Paging) -> None:
    akuam, alejr = one_stage_person(paging, "akuam"), one_stage_person(paging, "alejr")
    plan = paging.escalation("escalation", [(5, [(akuam, False), (alejr, False)])])
    paging.client.delete_contact(ContactId=akuam)       # the plan keeps the reference
    engagement = paging.engage(plan)
    assert who(paging.pages(engagement, 1)) == ["alejr"]
    [skipped] = paging.wait_events(engagement, "CONTACT_SKIPPED")
    assert (skipped["ContactArn"], skipped["Reason"], skipped["Stage"]) == (
        akuam, "CONTACT_NOT_FOUND", 0)


def test_a_shared_escalation_plans_pages_open_to_whoever_engaged_it(paging: Paging) -> None:
    """Account B engages account A's escalation plan, shared with B: the pages (named after
    A's person paged) are B's to open and acknowledge, as the engagement is, under the plan's
    policy; another account still cannot."""
    person = one_stage_person(paging, "akuam")
    plan = paging.escalation("sre", [(5, [(person, True)])])
    owner = plan.split(":")[4]
    other = str(int(owner) + 1).zfill(12)[-12:]
    stranger = str(int(owner) + 2).zfill(12)[-12:]
    paging.client.put_contact_policy(ContactArn=plan, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": other},
            "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement",
                       "ssm-contacts:DescribeEngagement", "ssm-contacts:ListPagesByEngagement",
                       "ssm-contacts:DescribePage", "ssm-contacts:AcceptPage"],
            "Resource": [plan, plan.replace(":contact/", ":engagement/") + "/*",
                         plan.rsplit(":", 1)[0] + ":page/*"]}]}))
    consumer = paging.backend.client(account=other)
    engagement = consumer.start_engagement(ContactId=plan, Sender="b", Subject="s",
                                           Content="c")["EngagementArn"]
    [page] = paging.pages(engagement, 1)
    assert page["ContactArn"] == person
    assert consumer.describe_page(PageId=page["PageArn"])["EngagementArn"] == engagement
    consumer.accept_page(PageId=page["PageArn"], AcceptType="READ", AcceptCode="000000")
    with pytest.raises(ClientError) as refused:
        paging.backend.client(account=stranger).describe_page(PageId=page["PageArn"])
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
