"""``incident-contacts copy`` meeting errors mid-run: an error about one item fails that item
and the copy goes on; an error every later call would meet (a side gone, credentials refused,
throttling past the retries, a server failing call after call) stops the run, and the user
still gets the summary of what was done. Re-running then finishes the copy without duplicates.

The source account lives on one server; a test that takes the target down gives it a server
of its own."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from click.testing import CliRunner

from incident_contacts.cli import main
from incident_contacts.copy_report import DRY_RUN_STOPPED, RERUN_SAFE
from incident_contacts.copying import copy_contacts
from tests.copying.test_copying import client, pages, profiles, realistic, snapshot
from tests.support.server import restart, start_server

ADDRESSES = ("akua@example.com", "+15005550100", "bo@example.com", "+15005550101",
             "+15005550102", "chen@example.com")


def answer(status: int, code: str, message: str) -> Any:
    """What a before-call handler returns to stand for the server's answer."""
    return (type("Answer", (), {"status_code": status})(),
            {"Error": {"Code": code, "Message": message},
             "ResponseMetadata": {"HTTPStatusCode": status}})


def after(n: int, operation: str, do: Any) -> Any:
    """A handler that runs ``do`` on the n-th call of ``operation`` (counting from 1) and
    every call after it."""
    calls = {"n": 0}

    def handler(**kwargs: Any) -> Any:
        calls["n"] += 1
        return do(**kwargs) if calls["n"] >= n else None
    return handler


def lines(report: Any) -> list[tuple[str, str, str]]:
    return [(o.kind, o.name, o.status) for o in report.outcomes]


def without_ended(arns_snapshot: dict[str, Any]) -> dict[str, Any]:
    arns_snapshot["overrides"]["payments-primary"].pop(0)
    return arns_snapshot


def test_a_target_gone_mid_run_stops_with_a_summary_and_a_rerun_finishes(server, accounts,
                                                                          tmp_path):
    source, _, source_account, target_account = accounts
    realistic(server, source, source_account)
    own = start_server(tmp_path)
    try:
        target = client(own, target_account, "eu-west-1")
        # the target goes away once the third channel is created
        target.meta.events.register("after-call.ssm-contacts.CreateContactChannel",
                                    after(3, "CreateContactChannel", lambda **_: own.kill()))
        report = copy_contacts(source, target)
        assert not report.ok
        assert report.stopped.startswith("the target could not be called (Could not connect")
        assert lines(report) == [
            ("contact", "akua", "created"), ("channel", "akua/work mail", "created"),
            ("channel", "akua/phone", "created"), ("contact", "bo", "created"),
            ("channel", "bo/mail", "created"), ("channel", "bo/desk", "failed")]
        assert report.outcomes[-1].reason == f"stopped here: {report.stopped}"
        assert report.summary() == "created 5, matched 0, skipped 0, failed 1"
        assert report.stop_lines() == [f"stopped early: {report.stopped}", RERUN_SAFE]
        text = "\n".join([o.line() for o in report.outcomes] + report.stop_lines())
        assert not any(address in text for address in ADDRESSES)

        own = restart(own)
        again = copy_contacts(source, client(own, target_account, "eu-west-1"))
        assert again.ok, [o.line() for o in again.outcomes]
        assert [(kind, name) for kind, name, status in lines(again) if status == "matched"
                if kind in ("contact", "channel")] == [
            ("contact", "akua"), ("channel", "akua/work mail"), ("channel", "akua/phone"),
            ("contact", "bo"), ("channel", "bo/mail")]
        target = client(own, target_account, "eu-west-1")
        assert snapshot(target) == without_ended(snapshot(source))
    finally:
        own.stop()


def test_an_answer_lost_after_a_write_is_matched_by_the_rerun(server, accounts):
    """The connection drops after the target created the rotation: the run stops there, and
    the next run finds the rotation rather than creating a second one."""
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def drop(**_: Any) -> None:
        raise ConnectionClosedError(endpoint_url=server.url)
    target.meta.events.register("after-call.ssm-contacts.CreateRotation", drop)
    report = copy_contacts(source, target)
    assert report.stopped.startswith("the target could not be called (Connection was closed")
    assert lines(report)[-1] == ("rotation", "payments-primary", "failed")
    assert not report.ok and report.count("created") == 3 + 6
    target.meta.events.unregister("after-call.ssm-contacts.CreateRotation", drop)
    again = copy_contacts(source, target)
    assert again.ok, [o.line() for o in again.outcomes]
    assert ("rotation", "payments-primary", "matched") in lines(again)
    assert len(pages(target, "list_rotations", "Rotations")) == 1
    assert snapshot(target) == without_ended(snapshot(source))


def test_a_source_gone_mid_run_stops_the_run(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def gone(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=server.url)
    source.meta.events.register("before-call.ssm-contacts.ListContactChannels",
                                after(2, "ListContactChannels", gone))
    report = copy_contacts(source, target)
    assert report.stopped == (f'the source could not be called (Could not connect to the '
                              f'endpoint URL: "{server.url}")')
    assert lines(report)[-1] == ("channel", "bo/*", "failed")
    assert report.count("created") == 4


def test_one_validation_error_fails_one_contact_and_the_copy_goes_on(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def refuse_bo(params: dict[str, Any], **_: Any) -> Any:
        if json.loads(params["body"])["Alias"] == "bo":
            return answer(400, "ValidationException",
                          "Value 'bo@example.com' at 'DisplayName' is not valid.")
        return None
    target.meta.events.register("before-call.ssm-contacts.CreateContact", refuse_bo)
    report = copy_contacts(source, target)
    assert report.stopped == ""
    failed = {(o.kind, o.name): o.reason for o in report.outcomes if o.status == "failed"}
    assert failed[("contact", "bo")] == (
        "ValidationException: Value (hidden) at 'DisplayName' is not valid.")
    # what needs bo fails with it; everything else is copied
    assert failed.keys() == {("contact", "bo"), ("rotation", "payments-primary"),
                             ("contact", "payments-oncall"), ("contact", "payments-escalation")}
    assert report.count("created") == 2 + 3 + 2      # akua, chen, their channels and plans


def test_server_errors_fail_items_until_three_in_a_row_stop_the_run(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def fail(params: dict[str, Any], **_: Any) -> Any:
        address = json.loads(params["body"])["DeliveryAddress"]["SimpleAddress"]
        if address in ("+15005550100", "bo@example.com", "+15005550101", "+15005550102"):
            return answer(500, "InternalServerException", f"could not store {address}")
        return None
    target.meta.events.register("before-call.ssm-contacts.CreateContactChannel", fail)
    report = copy_contacts(source, target)
    failed = [(o.name, o.reason) for o in report.outcomes if o.status == "failed"]
    # akua/phone fails alone (bo's contact then succeeds); bo's three channels in a row stop
    assert [name for name, _ in failed] == ["akua/phone", "bo/mail", "bo/desk", "bo/phone"]
    assert failed[0][1] == "InternalServerException: could not store (address)"
    assert failed[3][1] == f"stopped here: {report.stopped}"
    assert report.stopped == ("the target failed 3 calls in a row "
                              "(InternalServerException: could not store (address))")
    text = "\n".join([o.line() for o in report.outcomes] + report.stop_lines())
    assert not any(address in text for address in ADDRESSES)


def test_throttling_past_the_retries_and_an_unavailable_side_stop_the_run(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    throttled = after(2, "CreateContact", lambda **_: answer(
        400, "ThrottlingException", "Rate exceeded"))
    target.meta.events.register("before-call.ssm-contacts.CreateContact", throttled)
    report = copy_contacts(source, target)
    assert report.stopped == ("the target kept throttling after the retries "
                              "(ThrottlingException: Rate exceeded); wait a while before "
                              "running again")
    assert lines(report) == [("contact", "akua", "created"),
                             ("channel", "akua/work mail", "created"),
                             ("channel", "akua/phone", "created"),
                             ("contact", "bo", "failed")]
    target.meta.events.unregister("before-call.ssm-contacts.CreateContact", throttled)
    target.meta.events.register(
        "before-call.ssm-contacts.CreateRotation",
        lambda **_: answer(503, "ServiceUnavailable", "no route to bo@example.com"))
    again = copy_contacts(source, target)
    assert again.stopped == ("the target is unavailable (HTTP 503, ServiceUnavailable: no "
                             "route to (address))")
    assert lines(again)[-1] == ("rotation", "payments-primary", "failed")


def test_an_interrupted_run_still_reports(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def interrupt(**_: Any) -> None:
        raise KeyboardInterrupt
    target.meta.events.register("before-call.ssm-contacts.CreateRotation", interrupt)
    report = copy_contacts(source, target)
    assert report.stopped == "interrupted" and not report.ok
    assert report.count("created") == 3 + 6


def test_the_command_prints_the_summary_when_the_run_stops(server, accounts, tmp_path,
                                                           monkeypatch):
    """Credentials that expire mid-run: every later call would be refused, so the run
    stops, says so, and ends with the summary and exit status 1."""
    source, target, source_account, target_account = accounts
    realistic(server, source, source_account)
    profiles(tmp_path, monkeypatch, source_account, target_account)
    made = boto3.Session.client

    def client_of(self: Any, *args: Any, **kwargs: Any) -> Any:
        made_client = made(self, *args, **kwargs)
        if self.profile_name == "new":
            made_client.meta.events.register(
                "before-call.ssm-contacts.CreateRotation",
                lambda **_: answer(400, "ExpiredTokenException", "The security token "
                                   "included in the request is expired"))
        return made_client
    monkeypatch.setattr(boto3.Session, "client", client_of)
    result = CliRunner().invoke(main, [
        "copy", "--source-profile", "old", "--source-region", "us-east-1",
        "--source-endpoint-url", server.url, "--target-endpoint-url", server.url,
        "--target-region", "eu-west-1", "--target-profile", "new"])
    assert result.exit_code == 1, result.output
    output = result.output.splitlines()
    reason = ("the target refused the credentials (ExpiredTokenException: The security token "
              "included in the request is expired)")
    assert f"failed       rotation  payments-primary: stopped here: {reason}" in output
    assert output[-3:] == [f"stopped early: {reason}", RERUN_SAFE,
                           "created 9, matched 0, skipped 0, failed 1"]
    assert not any(address in result.output for address in ADDRESSES)
    assert "Traceback" not in result.output
    # nothing after the stop was attempted
    assert pages(target, "list_rotations", "Rotations") == []


def test_channels_the_source_refuses_to_list_fail_their_contact_plan_alone(server, accounts):
    """An item-level refusal (not a stop): bo's channels are not read, so bo's plan, which
    names them, fails rather than being copied without them; the rest is copied."""
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)

    def deny_bo(params: dict[str, Any], **_: Any) -> Any:
        if json.loads(params["body"])["ContactId"].endswith(":contact/bo"):
            return answer(400, "AccessDeniedException", "not allowed")
        return None
    source.meta.events.register("before-call.ssm-contacts.ListContactChannels", deny_bo)
    report = copy_contacts(source, target)
    assert report.stopped == ""
    assert {(o.kind, o.name): o.reason for o in report.outcomes if o.status == "failed"} == {
        ("channel", "bo/*"): "AccessDeniedException: not allowed",
        ("plan", "bo"): "the contact's channels could not be read"}
    assert ("rotation", "payments-primary", "created") in lines(report)
    assert ("contact", "payments-escalation", "created") in lines(report)


def test_a_dry_run_that_stops_says_nothing_was_written(server, accounts):
    source, target, source_account, _ = accounts
    realistic(server, source, source_account)
    target.meta.events.register(
        "before-call.ssm-contacts.ListRotations",
        after(2, "ListRotations", lambda **_: answer(429, "TooManyRequestsException", "slow")))
    report = copy_contacts(source, target, dry_run=True)
    assert report.stop_lines() == [
        "stopped early: the target kept throttling after the retries (TooManyRequestsException: "
        "slow); wait a while before running again", DRY_RUN_STOPPED]
    assert lines(report)[-1] == ("rotation", "payments-primary", "failed")
    assert report.summary() == "would create 9, matched 0, skipped 0, failed 1"
