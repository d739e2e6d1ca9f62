"""``incident-contacts copy``: one account/region copied to another through the public API.

One server subprocess holds both sides: the source account in us-east-1 and the target
account in eu-west-1 (the account is the 12-digit access key id, decisions §3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from incident_contacts.cli import main
from incident_contacts.copy_mapping import map_policy
from incident_contacts.copying import NOT_COPIED, copy_contacts
from tests.conftest import new_account
from tests.support.server import ServerProcess

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
DAILY = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
         "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}


def client(server: ServerProcess, account: str, region: str) -> Any:
    return boto3.client("ssm-contacts", region_name=region, endpoint_url=server.url,
                        aws_access_key_id=account, aws_secret_access_key="secret",
                        config=NO_RETRIES)


def pages(c: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in c.get_paginator(operation).paginate(**params)
            for item in page.get(key, [])]


def realistic(server: ServerProcess, source: Any, account: str) -> dict[str, str]:
    """Three people with channels and plans, a rotation with overrides (one ended), an
    on-call schedule, an escalation plan, tags and a contact policy."""
    now = datetime.now(UTC).replace(microsecond=0)
    arns: dict[str, str] = {}
    people = {"akua": ("Akua Mensah", [("work mail", "EMAIL", "akua@example.com"),
                                       ("phone", "SMS", "+15005550100")]),
              "bo": ("Bo Lindqvist", [("mail", "EMAIL", "bo@example.com"),
                                      ("desk", "VOICE", "+15005550101"),
                                      ("phone", "SMS", "+15005550102")]),
              "chen": ("Chen Wei", [("mail", "EMAIL", "chen@example.com")])}
    for alias, (name, channels) in people.items():
        arns[alias] = source.create_contact(
            Alias=alias, DisplayName=name, Type="PERSONAL", Plan={"Stages": []},
            Tags=[{"Key": "team", "Value": "payments"}])["ContactArn"]
        stages = []
        for index, (label, kind, address) in enumerate(channels):
            arn = source.create_contact_channel(
                ContactId=arns[alias], Name=label, Type=kind,
                DeliveryAddress={"SimpleAddress": address},
                DeferActivation=index > 0 or alias != "akua")["ContactChannelArn"]
            arns[f"{alias}/{label}"] = arn
            stages.append({"DurationInMinutes": 5 * index, "Targets": [{"ChannelTargetInfo": {
                "ContactChannelId": arn, "RetryIntervalInMinutes": index + 1}}]})
        source.update_contact(ContactId=arns[alias], Plan={"Stages": stages})
    # one channel proven on the source: the copy must not carry that over
    code = server.messages(arns["akua/work mail"])[-1]["ActivationCode"]
    source.activate_contact_channel(ContactChannelId=arns["akua/work mail"],
                                    ActivationCode=code)
    rotation = source.create_rotation(
        Name="payments-primary", ContactIds=[arns["akua"], arns["bo"], arns["chen"]],
        StartTime=now - timedelta(days=30), TimeZoneId="Europe/Berlin", Recurrence=DAILY,
        Tags=[{"Key": "cost-centre", "Value": "42"}])["RotationArn"]
    arns["rotation"] = rotation
    for start, end, who in [(now - timedelta(days=3), now - timedelta(days=2), ["chen"]),
                            (now - timedelta(hours=1), now + timedelta(hours=5), ["bo"]),
                            (now + timedelta(days=1), now + timedelta(days=2),
                             ["chen", "akua"])]:
        source.create_rotation_override(RotationId=rotation,
                                        NewContactIds=[arns[w] for w in who],
                                        StartTime=start, EndTime=end)
    arns["schedule"] = source.create_contact(
        Alias="payments-oncall", DisplayName="Payments on call", Type="ONCALL_SCHEDULE",
        Plan={"RotationIds": [rotation]})["ContactArn"]
    arns["escalation"] = source.create_contact(
        Alias="payments-escalation", DisplayName="Payments escalation", Type="ESCALATION",
        Plan={"Stages": [
            {"DurationInMinutes": 10, "Targets": [
                {"ContactTargetInfo": {"ContactId": arns["schedule"], "IsEssential": True}}]},
            {"DurationInMinutes": 15, "Targets": [
                {"ContactTargetInfo": {"ContactId": arns["akua"], "IsEssential": False}},
                {"ContactTargetInfo": {"ContactId": arns["bo"], "IsEssential": True}}]}]},
        Tags=[{"Key": "severity", "Value": "high"}])["ContactArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "partner", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
        "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
        "Resource": [arns["escalation"], arns["akua"],
                     f"arn:aws:ssm-contacts:us-east-1:{account}:engagement/*"]}]}
    source.put_contact_policy(ContactArn=arns["escalation"], Policy=json.dumps(policy))
    return arns


def snapshot(c: Any) -> dict[str, Any]:
    """Every Describe/List answer of an account, ARNs replaced by names (modulo ARNs)."""
    contacts = pages(c, "list_contacts", "Contacts")
    home = ":".join(contacts[0]["ContactArn"].split(":")[:5]) + ":"
    labels = {x["ContactArn"]: f"contact:{x['Alias']}" for x in contacts}
    data: dict[str, Any] = {"contacts": contacts, "details": {}, "channels": {}, "tags": {},
                            "policies": {}, "rotations": [], "overrides": {}}
    for x in contacts:
        arn, alias = x["ContactArn"], x["Alias"]
        data["details"][alias] = c.get_contact(ContactId=arn)
        channels = pages(c, "list_contact_channels", "ContactChannels", ContactId=arn)
        labels.update({ch["ContactChannelArn"]: f"channel:{alias}/{ch['Name']}"
                       for ch in channels})
        data["channels"][alias] = [ch | {"ActivationStatus": "-"} for ch in channels]
        data["tags"][alias] = c.list_tags_for_resource(ResourceARN=arn)["Tags"]
        policy = c.get_contact_policy(ContactArn=arn).get("Policy")
        data["policies"][alias] = json.loads(policy) if policy else None
    now = datetime.now(UTC)
    for r in pages(c, "list_rotations", "Rotations"):
        labels[r["RotationArn"]] = f"rotation:{r['Name']}"
        data["rotations"].append(r)
        data["tags"][r["Name"]] = c.list_tags_for_resource(ResourceARN=r["RotationArn"])["Tags"]
        data["overrides"][r["Name"]] = [
            {k: v for k, v in o.items() if k not in ("RotationOverrideId", "CreateTime")}
            for o in pages(c, "list_rotation_overrides", "RotationOverrides",
                           RotationId=r["RotationArn"], StartTime=now - timedelta(days=10),
                           EndTime=now + timedelta(days=10))]

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, str):
            return labels.get(value, value.replace(home, "HOME:"))
        return value
    return dict(plain(data))


def statuses(c: Any) -> set[str]:
    return {ch["ActivationStatus"]
            for x in pages(c, "list_contacts", "Contacts")
            for ch in pages(c, "list_contact_channels", "ContactChannels",
                            ContactId=x["ContactArn"])}


def test_a_realistic_account_is_copied_then_matched(server, accounts):
    source, target, source_account, target_account = accounts
    realistic(server, source, source_account)
    before = snapshot(source)
    report = copy_contacts(source, target)
    assert report.ok, [o.line() for o in report.outcomes]
    # contacts, channels, rotation, overrides, plans of the three people, policy
    assert report.count("created") == 5 + 6 + 1 + 2 + 3 + 1
    assert {(o.kind, o.status) for o in report.outcomes} == {
        (kind, "created") for kind in ("contact", "channel", "rotation", "override", "plan",
                                       "policy")}
    assert NOT_COPIED in report.notes
    after = snapshot(target)
    # the ended override stays behind; everything else is equal modulo ARNs
    assert len(before["overrides"]["payments-primary"]) == 3
    before["overrides"]["payments-primary"].pop(0)
    assert after == before
    assert statuses(source) == {"ACTIVATED", "NOT_ACTIVATED"}
    assert statuses(target) == {"NOT_ACTIVATED"}
    policy = json.loads(target.get_contact_policy(
        ContactArn=f"arn:aws:ssm-contacts:eu-west-1:{target_account}:contact/"
                   "payments-escalation")["Policy"])
    assert policy["Statement"][0]["Resource"][2] == (
        f"arn:aws:ssm-contacts:eu-west-1:{target_account}:engagement/*")
    # DeferActivation: no code went to anyone from the target
    assert [m for m in server.messages()
            if m["ContactChannelArn"].split(":")[4] == target_account] == []
    # a second run changes nothing and says everything matched
    again = copy_contacts(source, target)
    assert again.ok and again.count("created") == 0
    assert {o.status for o in again.outcomes} == {"matched"}
    # the plans of the schedule and the escalation, given at creation, are checked too
    assert again.count("matched") == report.count("created") + 2
    assert snapshot(target) == after


def test_dry_run_writes_nothing(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    report = copy_contacts(source, target, dry_run=True)
    assert report.ok
    assert report.count("would create") == 18 and report.count("created") == 0
    assert pages(target, "list_contacts", "Contacts") == []
    assert pages(target, "list_rotations", "Rotations") == []


def test_a_failed_item_is_reported_and_the_rest_copied(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        if json.loads(params["body"])["DeliveryAddress"] == {"SimpleAddress": "+15005550102"}:
            return (type("Refused", (), {"status_code": 500})(),
                    {"Error": {"Code": "InternalServerException", "Message": "refused"}})
        return None
    target.meta.events.register("before-call.ssm-contacts.CreateContactChannel", refuse)
    report = copy_contacts(source, target)
    assert not report.ok
    failed = [(o.kind, o.name) for o in report.outcomes if o.status == "failed"]
    assert failed == [("channel", "bo/phone"), ("plan", "bo")]
    assert report.count("created") == 18 - 2
    target.meta.events.unregister("before-call.ssm-contacts.CreateContactChannel", refuse)
    # the next run completes it: the channel is created, bo's empty plan filled in
    again = copy_contacts(source, target)
    assert again.ok
    assert [(o.kind, o.name) for o in again.outcomes if o.status == "created"] == [
        ("channel", "bo/phone"), ("plan", "bo")]
    before = snapshot(source)
    before["overrides"]["payments-primary"].pop(0)
    assert snapshot(target) == before


def test_a_matched_contact_of_another_type_fails_alone(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    target.create_contact(Alias="chen", Type="ESCALATION", Plan={"Stages": []})
    report = copy_contacts(source, target)
    failed = {(o.kind, o.name): o.reason for o in report.outcomes if o.status == "failed"}
    # chen is not copied, nor what needs chen; the escalation needs the schedule
    assert failed.keys() == {("contact", "chen"), ("rotation", "payments-primary"),
                             ("contact", "payments-oncall"), ("contact", "payments-escalation")}
    assert failed[("contact", "chen")] == "the target's chen is ESCALATION, not PERSONAL"
    assert failed[("rotation", "payments-primary")] == (
        f"member arn:aws:ssm-contacts:us-east-1:{source_account}:contact/chen not copied")
    assert "rotation/" in failed[("contact", "payments-oncall")]
    assert failed[("contact", "payments-escalation")] == (
        f"plan: arn:aws:ssm-contacts:us-east-1:{source_account}:contact/payments-oncall "
        "was not copied")
    created = {(o.kind, o.name) for o in report.outcomes if o.status == "created"}
    assert created == {("contact", "akua"), ("contact", "bo"), ("channel", "akua/work mail"),
                       ("channel", "akua/phone"), ("channel", "bo/mail"), ("channel", "bo/desk"),
                       ("channel", "bo/phone"), ("plan", "akua"), ("plan", "bo")}


def profiles(tmp_path, monkeypatch, source_account, target_account):
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[old]\naws_access_key_id = {source_account}\naws_secret_access_key = x\n"
        f"[new]\naws_access_key_id = {target_account}\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_the_command(server, accounts, tmp_path, monkeypatch):
    source, target, source_account, target_account = accounts
    realistic(server, source, source_account)
    profiles(tmp_path, monkeypatch, source_account, target_account)
    args = ["copy", "--source-profile", "old", "--source-region", "us-east-1",
            "--source-endpoint-url", server.url, "--target-endpoint-url", server.url,
            "--target-region", "eu-west-1", "--target-profile", "new"]
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would create contact   payments-escalation" in dry.output
    assert dry.output.splitlines()[-1] == (
        "dry run, nothing written: would create 18, matched 0, skipped 0, failed 0")
    assert pages(target, "list_contacts", "Contacts") == []
    done = CliRunner().invoke(main, [*args, "--send-activation-codes"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == "created 24, matched 0, skipped 0, failed 0"
    assert f"note: {NOT_COPIED}" in done.output
    sent = {m["DeliveryAddress"] for m in server.messages()
            if m["ContactChannelArn"].split(":")[4] == target_account}
    assert sent == {"akua@example.com", "+15005550100", "bo@example.com", "+15005550101",
                    "+15005550102", "chen@example.com"}



def test_the_command_fails_when_an_item_failed(server, accounts, tmp_path, monkeypatch):
    source, target, source_account, target_account = accounts
    realistic(server, source, source_account)
    target.create_contact(Alias="payments-escalation", Type="PERSONAL", Plan={"Stages": []})
    profiles(tmp_path, monkeypatch, source_account, target_account)
    result = CliRunner().invoke(main, [
        "copy", "--source-profile", "old", "--source-region", "us-east-1",
        "--source-endpoint-url", server.url, "--target-endpoint-url", server.url,
        "--target-region", "eu-west-1", "--target-profile", "new"])
    assert result.exit_code == 1, result.output
    assert ("failed       contact   payments-escalation: the target's payments-escalation is "
            "PERSONAL, not ESCALATION") in result.output.splitlines()
    # everything but the escalation contact and its policy
    assert result.output.splitlines()[-1] == "created 16, matched 0, skipped 0, failed 1"


def test_contacts_shared_from_another_account_are_skipped(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    partner = client(server, new_account(), "us-east-1")
    shared = partner.create_contact(Alias="partner-desk", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    partner.put_contact_policy(ContactArn=shared, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{source_account}:root"},
            "Action": "ssm-contacts:GetContact", "Resource": shared}]}))
    assert shared in {c["ContactArn"] for c in pages(source, "list_contacts", "Contacts")}
    report = copy_contacts(source, target)
    assert report.ok
    skipped = [(o.kind, o.name, o.reason) for o in report.outcomes if o.status == "skipped"]
    assert skipped == [("contact", "partner-desk",
                        f"shared from account {shared.split(':')[4]}; not copied")]
    assert "partner-desk" not in {c["Alias"] for c in pages(target, "list_contacts",
                                                            "Contacts")}


def test_map_policy_maps_resources_only():
    text = json.dumps({"Version": "2012-10-17", "Statement": {
        "Effect": "Deny", "Principal": {"AWS": "arn:a"}, "NotResource": "arn:a",
        "Condition": {"StringEquals": {"aws:SourceArn": "arn:a"}}}})
    mapped = json.loads(map_policy(text, lambda arn: arn.replace("arn:a", "arn:b")))
    assert mapped["Statement"] == {
        "Effect": "Deny", "Principal": {"AWS": "arn:a"}, "NotResource": "arn:b",
        "Condition": {"StringEquals": {"aws:SourceArn": "arn:a"}}}


def test_a_refused_address_is_not_printed(server, accounts):
    """The target's refusal of a channel may quote its address (personal data): the report,
    which goes to the terminal, names the channel and not the address."""
    source, target, _, _ = accounts
    person = source.create_contact(Alias="fran", Type="PERSONAL",
                                   Plan={"Stages": []})["ContactArn"]
    long = "fran.long." + "x" * 60 + "@example.com"
    for name, address in (("mail", "fran@example.com"), ("long", long)):
        source.create_contact_channel(ContactId=person, Name=name, Type="EMAIL",
                                      DeliveryAddress={"SimpleAddress": address},
                                      DeferActivation=True)

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(target, name)

        def create_contact_channel(self, **params: Any) -> Any:
            # as the validator words it: values past 64 characters are cut short
            address = params["DeliveryAddress"]["SimpleAddress"]
            shown = address if len(address) <= 64 else address[:61] + "..."
            raise target.exceptions.ValidationException({"Error": {
                "Code": "ValidationException",
                "Message": f"Value '{shown}' at 'DeliveryAddress.SimpleAddress' is not "
                           "an email address."}}, "CreateContactChannel")

    report = copy_contacts(source, Refusing())
    failed = [o for o in report.outcomes if o.status == "failed"]
    assert sorted((o.kind, o.name) for o in failed) == [("channel", "fran/long"),
                                                         ("channel", "fran/mail")]
    for outcome in failed:
        assert "fran@example.com" not in outcome.line()
        assert "fran.long" not in outcome.line()
        assert "is not an email address" in outcome.line()



def test_an_account_with_more_shared_contacts_than_its_own_is_never_guessed(server,
                                                                            accounts):
    """With contacts of several accounts listed and no rotation to tell, the most numerous
    account is not taken for the caller's (here it is the partner's): the copy asks for
    --source-account, and copies the contacts of the account named."""
    source, target, source_account, _ = accounts
    source.create_contact(Alias="solo", Type="PERSONAL", Plan={"Stages": []})
    partner = client(server, new_account(), "us-east-1")
    for alias in ("partner-desk", "partner-night"):
        shared = partner.create_contact(Alias=alias, Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
        partner.put_contact_policy(ContactArn=shared, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{source_account}:root"},
                "Action": "ssm-contacts:GetContact", "Resource": shared}]}))
    assert len(pages(source, "list_contacts", "Contacts")) == 3
    with pytest.raises(ValueError, match="--source-account"):
        copy_contacts(source, target)
    assert pages(target, "list_contacts", "Contacts") == []
    report = copy_contacts(source, target, source_account=source_account)
    assert report.ok, [o.line() for o in report.outcomes]
    assert [c["Alias"] for c in pages(target, "list_contacts", "Contacts")] == ["solo"]
    assert {(o.name, o.status) for o in report.outcomes if o.kind == "contact"} == {
        ("solo", "created"), ("partner-desk", "skipped"), ("partner-night", "skipped")}


def test_a_contact_shared_with_the_target_under_the_same_alias_is_never_matched(server):
    """The target lists a partner's contact of the same alias beside its own: a re-run never
    takes it for the copy (its channels, plan and policy are not the copy's), nor stops."""
    source_account, target_account = new_account(), new_account()
    partner = client(server, new_account(), "us-east-1")
    shared = partner.create_contact(Alias="ops", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    partner.put_contact_policy(ContactArn=shared, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{target_account}:root"},
            "Action": "ssm-contacts:GetContact", "Resource": shared}]}))
    source = client(server, source_account, "us-east-1")
    target = client(server, target_account, "us-east-1")
    ops = source.create_contact(Alias="ops", Type="PERSONAL",
                                Plan={"Stages": []})["ContactArn"]
    source.create_contact_channel(ContactId=ops, Name="mail", Type="EMAIL",
                                  DeliveryAddress={"SimpleAddress": "ops@example.com"},
                                  DeferActivation=True)
    first = copy_contacts(source, target)
    assert first.ok, [o.line() for o in first.outcomes]
    # nothing tells the target's own "ops" from the partner's: that contact fails alone
    again = copy_contacts(source, target)
    assert [(o.kind, o.name, o.status) for o in again.outcomes] == [
        ("contact", "ops", "failed")]
    assert "several accounts" in again.outcomes[0].reason
    # a rotation of the target's own names its account: then "ops" is matched
    (own,) = [c["ContactArn"] for c in pages(target, "list_contacts", "Contacts")
              if c["ContactArn"].split(":")[4] == target_account]
    target.create_rotation(Name="desk", ContactIds=[own], TimeZoneId="UTC",
                           Recurrence=DAILY, StartTime=datetime(2026, 1, 1, tzinfo=UTC))
    for dry_run in (True, False):
        report = copy_contacts(source, target, dry_run=dry_run)
        assert report.ok, [o.line() for o in report.outcomes]
        assert ("contact", "ops", "matched") in [(o.kind, o.name, o.status)
                                                 for o in report.outcomes]


def test_an_override_timed_to_the_millisecond_is_matched_again(server, accounts):
    """AWS may answer times with a fraction of a second; the copy is sent (and kept) to the
    second. A re-run matches it rather than adding the override again."""
    source, target, _, _ = accounts
    person = source.create_contact(Alias="gil", Type="PERSONAL",
                                   Plan={"Stages": []})["ContactArn"]
    rotation = source.create_rotation(
        Name="gil-rotation", ContactIds=[person], TimeZoneId="UTC", Recurrence=DAILY,
        StartTime=datetime(2026, 1, 1, tzinfo=UTC))["RotationArn"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    source.create_rotation_override(RotationId=rotation, NewContactIds=[person],
                                    StartTime=start, EndTime=start + timedelta(hours=8))

    class Precise:
        def __getattr__(self, name: str) -> Any:
            return getattr(source, name)

        def get_paginator(self, operation: str) -> Any:
            paginator = source.get_paginator(operation)
            if operation != "list_rotation_overrides":
                return paginator

            class Pages:
                def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
                    for page in paginator.paginate(**params):
                        for o in page.get("RotationOverrides", []):
                            o["StartTime"] += timedelta(milliseconds=250)
                            o["EndTime"] += timedelta(milliseconds=750)
                        yield page
            return Pages()

    first = copy_contacts(Precise(), target)
    assert first.ok and ("override", "created") in {(o.kind, o.status)
                                                    for o in first.outcomes}
    again = copy_contacts(Precise(), target)
    assert again.ok and again.count("created") == 0, [o.line() for o in again.outcomes]
    (copied,) = pages(target, "list_rotations", "Rotations")
    assert len(pages(target, "list_rotation_overrides", "RotationOverrides",
                     RotationId=copied["RotationArn"], StartTime=start - timedelta(days=1),
                     EndTime=start + timedelta(days=2))) == 1
