"""``incident-contacts copy`` comparing what it matched: each difference from the source is
reported (also in a dry run) and left as it is, unless ``--update`` sets matched contacts and
rotations to the source's; and a dry run never takes a partner's shared contact for the
target's own."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from incident_contacts.cli import main
from incident_contacts.copy_report import Outcome
from incident_contacts.copying import copy_contacts
from tests.conftest import new_account
from tests.copying.test_copying import client, pages, profiles, realistic, snapshot

ROTATION_SETTINGS = ["ContactIds", "StartTime", "TimeZoneId", "Recurrence"]


def arn_of(c: Any, alias: str) -> str:
    (arn,) = [x["ContactArn"] for x in pages(c, "list_contacts", "Contacts") if x["Alias"] == alias]
    return str(arn)


def drift(target: Any) -> None:
    """Change, on the target, one of each thing a re-run compares."""
    target.update_contact(ContactId=arn_of(target, "akua"), DisplayName="Akua M")
    bo = arn_of(target, "bo")
    stages = target.get_contact(ContactId=bo)["Plan"]["Stages"]
    target.update_contact(ContactId=bo, Plan={"Stages": stages[:1]})
    target.tag_resource(ResourceARN=arn_of(target, "payments-escalation"),
                        Tags=[{"Key": "severity", "Value": "low"}, {"Key": "new", "Value": "x"}])
    (chen_mail,) = pages(target, "list_contact_channels", "ContactChannels",
                         ContactId=arn_of(target, "chen"))
    target.update_contact_channel(ContactChannelId=chen_mail["ContactChannelArn"], Name="email")
    (rotation,) = pages(target, "list_rotations", "Rotations")
    target.update_rotation(
        RotationId=rotation["RotationArn"], ContactIds=rotation["ContactIds"][::-1],
        StartTime=rotation["StartTime"] + timedelta(days=1), TimeZoneId="UTC",
        Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 2,
                    "DailySettings": [{"HourOfDay": 10, "MinuteOfHour": 30}]})


def differing(report: Any) -> dict[tuple[str, str], tuple[str, list[str]]]:
    return {(o.kind, o.name): (o.status, o.differs) for o in report.outcomes if o.differs}


def test_matched_items_that_differ_are_reported_and_left_as_they_are(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    assert copy_contacts(source, target).ok
    drift(target)
    drifted = snapshot(target)
    expected = {("contact", "akua"): ("matched", ["DisplayName"]),
                ("contact", "bo"): ("matched", ["Plan"]),
                ("channel", "chen/mail"): ("matched", ["Name"]),
                ("rotation", "payments-primary"): ("matched", ROTATION_SETTINGS),
                ("contact", "payments-escalation"): ("matched", ["Tags"])}
    for dry_run in (True, False):
        report = copy_contacts(source, target, dry_run=dry_run)
        assert report.ok, [o.line() for o in report.outcomes]
        assert differing(report) == expected
        assert {o.status for o in report.outcomes} == {"matched"}
        # bo's plan is told on bo's line, not on a line of its own
        assert ("plan", "bo") not in {(o.kind, o.name) for o in report.outcomes}
        assert report.summary().endswith(
            "matched 19 (5 differ, left as they are), skipped 0, failed 0")
        assert snapshot(target) == drifted
    (bo,) = [o for o in report.outcomes if o.name == "bo"]
    assert bo.line() == "matched      contact   bo: differs: Plan"


def test_update_sets_matched_contacts_and_rotations_to_the_source(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    assert copy_contacts(source, target).ok
    drift(target)
    drifted = snapshot(target)
    dry = copy_contacts(source, target, dry_run=True, update=True)
    assert dry.ok and snapshot(target) == drifted
    assert {key: status for key, (status, _) in differing(dry).items()} == {
        ("contact", "akua"): "would update", ("contact", "bo"): "would update",
        ("channel", "chen/mail"): "matched",
        ("rotation", "payments-primary"): "would update",
        ("contact", "payments-escalation"): "would update"}
    assert dry.summary() == ("would create 0, would update 4, matched 15 (1 differ, left as "
                             "they are), skipped 0, failed 0")

    report = copy_contacts(source, target, update=True)
    assert report.ok, [o.line() for o in report.outcomes]
    assert differing(report) == {
        ("contact", "akua"): ("updated", ["DisplayName"]),
        ("contact", "bo"): ("updated", ["Plan"]),
        ("channel", "chen/mail"): ("matched", ["Name"]),
        ("rotation", "payments-primary"): ("updated", ROTATION_SETTINGS),
        ("contact", "payments-escalation"): ("updated", ["Tags"])}
    (rotation,) = [o.line() for o in report.outcomes if o.kind == "rotation"]
    assert rotation == (
        "updated      rotation  payments-primary: ContactIds, StartTime, TimeZoneId, "
        "Recurrence")
    expected = snapshot(source)
    expected["overrides"]["payments-primary"].pop(0)
    # a tag only the target has is kept; the channel's name is not updated (named back here,
    # as the snapshot labels channels by name)
    expected["tags"]["payments-escalation"].append({"Key": "new", "Value": "x"})
    (chen_mail,) = pages(target, "list_contact_channels", "ContactChannels",
                         ContactId=arn_of(target, "chen"))
    assert chen_mail["Name"] == "email"
    target.update_contact_channel(ContactChannelId=chen_mail["ContactChannelArn"], Name="mail")
    after = snapshot(target)
    after["tags"]["payments-escalation"].sort(key=lambda t: t["Key"], reverse=True)
    assert after == expected
    again = copy_contacts(source, target, update=True)
    assert again.ok and {o.status for o in again.outcomes} == {"matched"}
    assert differing(again) == {}


def test_a_display_name_the_source_has_not_is_taken_away_by_update(server, accounts):
    source, target, _, _ = accounts
    source.create_contact(Alias="solo", Type="PERSONAL", Plan={"Stages": []})
    target.create_contact(Alias="solo", Type="PERSONAL", DisplayName="Solo Person",
                          Plan={"Stages": []})
    report = copy_contacts(source, target, update=True)
    assert [(o.status, o.differs) for o in report.outcomes] == [("updated", ["DisplayName"])]
    assert not target.get_contact(ContactId=arn_of(target, "solo")).get("DisplayName")
    again = copy_contacts(source, target, update=True)
    assert [(o.status, o.differs) for o in again.outcomes] == [("matched", [])]


def test_an_update_refused_leaves_the_rotation_matched_and_its_overrides_copied(server,
                                                                                 accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    assert copy_contacts(source, target).ok
    drift(target)

    def refuse(**_: Any) -> Any:
        return (type("Answer", (), {"status_code": 400})(),
                {"Error": {"Code": "ValidationException", "Message": "not now"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}})
    target.meta.events.register("before-call.ssm-contacts.UpdateRotation", refuse)
    report = copy_contacts(source, target, update=True)
    assert not report.ok and report.stopped == ""
    (rotation,) = [o for o in report.outcomes if o.kind == "rotation"]
    assert rotation.line() == (
        "failed       rotation  payments-primary: differs: ContactIds, StartTime, TimeZoneId, "
        "Recurrence; matched; updating it failed: ValidationException: not now")
    assert [o.status for o in report.outcomes if o.kind == "override"] == ["matched"] * 2
    assert ("contact", "payments-oncall", "matched") in [
        (o.kind, o.name, o.status) for o in report.outcomes]


def share(partner: Any, alias: str, with_account: str) -> str:
    arn: str = partner.create_contact(Alias=alias, Type="PERSONAL",
                                      Plan={"Stages": []})["ContactArn"]
    partner.put_contact_policy(ContactArn=arn, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{with_account}:root"},
            "Action": "ssm-contacts:GetContact", "Resource": arn}]}))
    return arn


def test_a_dry_run_never_matches_a_partner_contact_before_the_target_is_known(server):
    """A target with no rotations and nothing copied yet lists a partner's "ops": a run
    creates the target's own "ops", so the dry run must not say it matched the partner's."""
    source_account, target_account, partner_account = new_account(), new_account(), new_account()
    shared = share(client(server, partner_account, "us-east-1"), "ops", target_account)
    source = client(server, source_account, "us-east-1")
    target = client(server, target_account, "us-east-1")
    source.create_contact(Alias="ops", Type="PERSONAL", DisplayName="Ops desk",
                          Plan={"Stages": []})
    assert [c["ContactArn"] for c in pages(target, "list_contacts", "Contacts")] == [shared]

    dry = copy_contacts(source, target, dry_run=True)
    assert [(o.kind, o.name, o.status) for o in dry.outcomes] == [
        ("contact", "ops", "would create")]
    assert dry.outcomes[0].reason == (
        f"personal; unless the ops the target lists (account {partner_account}) is its own "
        "and not shared with it: --target-account tells")
    named = copy_contacts(source, target, dry_run=True, target_account=target_account)
    assert [(o.status, o.reason) for o in named.outcomes] == [("would create", "personal")]

    done = copy_contacts(source, target)
    assert [(o.kind, o.name, o.status) for o in done.outcomes] == [
        ("contact", "ops", "created")]
    # now the target has its own "ops" beside the partner's: named, it is matched
    for dry_run in (True, False):
        again = copy_contacts(source, target, dry_run=dry_run, target_account=target_account)
        assert [(o.kind, o.name, o.status) for o in again.outcomes] == [
            ("contact", "ops", "matched")], [o.line() for o in again.outcomes]


def test_the_command_reports_differences_and_updates(server, accounts, tmp_path, monkeypatch):
    source, target, source_account, target_account = accounts
    realistic(server, source, source_account)
    assert copy_contacts(source, target).ok
    target.update_contact(ContactId=arn_of(target, "akua"), DisplayName="Akua M")
    profiles(tmp_path, monkeypatch, source_account, target_account)
    args = ["copy", "--source-profile", "old", "--source-region", "us-east-1",
            "--source-endpoint-url", server.url, "--target-endpoint-url", server.url,
            "--target-region", "eu-west-1", "--target-profile", "new",
            "--target-account", target_account]
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0, plain.output
    assert "matched      contact   akua: differs: DisplayName" in plain.output.splitlines()
    assert plain.output.splitlines()[-1] == (
        "created 0, matched 20 (1 differ, left as they are), skipped 0, failed 0")
    updated = CliRunner().invoke(main, [*args, "--update"])
    assert updated.exit_code == 0, updated.output
    assert "updated      contact   akua: DisplayName" in updated.output.splitlines()
    assert updated.output.splitlines()[-1] == (
        "created 0, updated 1, matched 19, skipped 0, failed 0")
    assert target.get_contact(ContactId=arn_of(target, "akua"))["DisplayName"] == "Akua Mensah"


def test_an_outcome_line_names_its_differences():
    assert Outcome("contact", "bo", "matched", differs=["DisplayName", "Plan"]).line() == (
        "matched      contact   bo: differs: DisplayName, Plan")
    assert Outcome("rotation", "r", "would update", differs=["TimeZoneId"]).line() == (
        "would update rotation  r: TimeZoneId")


def test_a_target_account_that_its_rotations_contradict_is_refused(server, accounts):
    source, target, source_account, target_account = accounts
    realistic(server, source, source_account)
    assert copy_contacts(source, target).ok
    with pytest.raises(ValueError, match=f"of account {target_account}, not of "
                                         "--target-account 123456789012"):
        copy_contacts(source, target, target_account="123456789012")
