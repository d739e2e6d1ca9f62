"""The planner's rules as plain functions (engine/planner.py)."""

from __future__ import annotations

from incident_contacts.engine import planner
from incident_contacts.engine.planner import ChannelState, PathNode

ACCOUNT = "arn:aws:ssm-contacts:us-east-1:111122223333"


def channel(n: int) -> str:
    return f"{ACCOUNT}:contact-channel/akuam/0000000{n}-0000-4000-8000-000000000000"


def contact(alias: str) -> str:
    return f"{ACCOUNT}:contact/{alias}"


PERSONAL = {"Stages": [
    {"DurationInMinutes": 5, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": channel(1), "RetryIntervalInMinutes": 1}},
        {"ChannelTargetInfo": {"ContactChannelId": channel(2)}}]},
    {"DurationInMinutes": 10, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": channel(3)}}]},
    {"DurationInMinutes": 0, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": channel(1)}}]},
]}


def test_parse_and_stage_times() -> None:
    stages = planner.parse_stages(PERSONAL)
    assert [s.duration_minutes for s in stages] == [5, 10, 0]
    assert stages[0].channels[0].retry_minutes == 1
    assert stages[0].channels[1].retry_minutes == 0
    assert stages[0].channels[0].channel_id == "00000001-0000-4000-8000-000000000000"
    assert [planner.stage_start(1000.0, stages, i) for i in range(3)] == [1000, 1300, 1900]


def test_a_stage_pages_activated_channels_and_schedules_the_next() -> None:
    stages = planner.parse_stages(PERSONAL)
    ids = [s.channel_id for s in stages[0].channels]
    step = planner.plan_track_stage(stages, 0, 1000.0, {
        ids[0]: ChannelState("SMS", True), ids[1]: ChannelState("EMAIL", False)}, halted=False)
    assert [t.channel_id for t in step.pages] == [ids[0]]
    assert [(s.target.channel_id, s.reason) for s in step.skipped] == [(ids[1], "NOT_ACTIVATED")]
    assert (step.next_stage, step.next_due) == (1, 1300.0)
    # Due late, the next stage still keeps to the plan's clock (from when this one was due).
    gone = planner.plan_track_stage(stages, 1, 1300.0, {}, halted=False)
    assert [s.reason for s in gone.skipped] == ["CHANNEL_NOT_FOUND"]
    assert (gone.next_stage, gone.next_due) == (2, 1900.0)
    last = planner.plan_track_stage(stages, 2, 1900.0, {ids[0]: ChannelState("SMS", True)},
                                    halted=False)
    assert len(last.pages) == 1 and last.next_stage is None and last.next_due is None


def test_a_halted_plan_does_nothing() -> None:
    stages = planner.parse_stages(PERSONAL)
    assert planner.plan_track_stage(stages, 0, 0.0, {}, halted=True) == planner.TrackStep()
    assert planner.plan_track_stage(stages, 7, 0.0, {}, halted=False) == planner.TrackStep()
    assert planner.plan_escalation_stage(stages, 0, 0.0, halted=True) == planner.EscalationStep()


def test_a_channel_named_twice_in_a_stage_is_paged_once() -> None:
    plan = {"Stages": [{"DurationInMinutes": 1, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": channel(1)}},
        {"ChannelTargetInfo": {"ContactChannelId": channel(1)}}]}]}
    stages = planner.parse_stages(plan)
    step = planner.plan_track_stage(stages, 0, 0.0, {
        stages[0].channels[0].channel_id: ChannelState("SMS", True)}, halted=False)
    assert len(step.pages) == 1


def test_escalation_stages() -> None:
    plan = {"Stages": [
        {"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": contact("akuam"), "IsEssential": False}},
            {"ContactTargetInfo": {"ContactId": contact("akuam"), "IsEssential": True}},
            {"ContactTargetInfo": {"ContactId": contact("alejr"), "IsEssential": False}}]},
        {"DurationInMinutes": 0, "Targets": [
            {"ContactTargetInfo": {"ContactId": contact("anasi"), "IsEssential": False}}]},
    ]}
    stages = planner.parse_stages(plan)
    step = planner.plan_escalation_stage(stages, 0, 60.0, halted=False)
    assert [(t.alias, t.essential) for t in step.engage] == [("akuam", True), ("alejr", False)]
    assert (step.next_stage, step.next_due) == (1, 360.0)
    last = planner.plan_escalation_stage(stages, 1, 360.0, halted=False)
    assert [t.alias for t in last.engage] == ["anasi"] and last.next_stage is None


def test_retries() -> None:
    assert planner.retry_due(retries_done=0, interval_minutes=1, failed_at=100.0, read=False,
                             halted=False) == 160.0
    assert planner.retry_due(retries_done=planner.MAX_PAGE_RETRIES, interval_minutes=1,
                             failed_at=0.0, read=False, halted=False) is None
    assert planner.retry_due(retries_done=0, interval_minutes=0, failed_at=0.0, read=False,
                             halted=False) is None
    assert planner.retry_due(retries_done=0, interval_minutes=5, failed_at=0.0, read=True,
                             halted=False) is None
    assert planner.retry_due(retries_done=0, interval_minutes=5, failed_at=0.0, read=False,
                             halted=True) is None


def test_acknowledgements() -> None:
    tracks = [planner.OpenTrack(1, False), planner.OpenTrack(2, False)]
    plain = planner.acknowledge(tracks, escalation_running=True, page_track_essential=False)
    assert plain == planner.Acknowledgement((1, 2), False)
    essential = planner.acknowledge([planner.OpenTrack(3, True)], escalation_running=True,
                                    page_track_essential=False)
    assert essential.stop_escalation
    # Read after the plan had ended: the escalation still stops for an essential contact.
    late = planner.acknowledge([], escalation_running=True, page_track_essential=True)
    assert late == planner.Acknowledgement((), True)
    assert not planner.acknowledge([], escalation_running=False,
                                   page_track_essential=True).stop_escalation


def test_resolution_paths() -> None:
    person = PathNode(contact("akuam"), "PERSONAL")
    plan = PathNode(contact("plan"), "ESCALATION")
    schedule = PathNode(contact("oncall"), "ONCALL_SCHEDULE")
    assert planner.resolution(person, stage=-1, via=None, person_arn=None).wire() == [
        {"ContactArn": contact("akuam"), "Type": "PERSONAL"}]
    assert planner.resolution(plan, stage=2, via=person, person_arn=None).wire() == [
        {"ContactArn": contact("plan"), "Type": "ESCALATION"},
        {"ContactArn": contact("akuam"), "Type": "PERSONAL", "StageIndex": 2}]
    assert planner.resolution(schedule, stage=-1, via=schedule,
                              person_arn=contact("akuam")).wire() == [
        {"ContactArn": contact("oncall"), "Type": "ONCALL_SCHEDULE"},
        {"ContactArn": contact("akuam"), "Type": "PERSONAL"}]
    assert planner.resolution(plan, stage=0, via=schedule, person_arn=contact("akuam")).wire() \
        == [{"ContactArn": contact("plan"), "Type": "ESCALATION"},
            {"ContactArn": contact("oncall"), "Type": "ONCALL_SCHEDULE", "StageIndex": 0},
            {"ContactArn": contact("akuam"), "Type": "PERSONAL"}]
    assert planner.resolution(plan, stage=0, via=schedule, person_arn=None).wire()[-1] == {
        "ContactArn": contact("oncall"), "Type": "ONCALL_SCHEDULE", "StageIndex": 0}
