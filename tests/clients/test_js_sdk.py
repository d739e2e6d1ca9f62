"""The AWS SDK for JavaScript v3 against a real server: ``tests/js/contacts.mjs`` creates, reads
and lists a contact and a channel, with the SDK's paginator, and reads errors as the SDK does;
``tests/js/operations.mjs`` calls every operation the SDK has and prints what the SDK parsed,
which is compared with what boto3 reads from the same server.

The package is installed by ``npm install --prefix tests/js`` (CI does it); without node or
the package the test is skipped locally and fails in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.clients.helpers import aws_env, missing
from tests.conftest import NO_RETRIES, new_account
from tests.support.server import ServerProcess, start_server

pytestmark = pytest.mark.server

JS = Path(__file__).resolve().parent.parent / "js"


def test_contacts_and_channels(sqlite_server: ServerProcess) -> None:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed")
    if not (JS / "node_modules" / "@aws-sdk" / "client-ssm-contacts").is_dir():
        missing(f"@aws-sdk/client-ssm-contacts is not installed (npm install --prefix {JS})")
    account = new_account()
    done = subprocess.run([node, "contacts.mjs", sqlite_server.url], cwd=JS,
                          env=aws_env(account), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    base = f"arn:aws:ssm-contacts:us-east-1:{account}"
    assert result["created"] == [f"{base}:contact/js-{name}"
                                 for name in ("akua", "bongani", "chidi")]
    assert result["contact"] == {"ContactArn": f"{base}:contact/js-akua", "Alias": "js-akua",
                                 "DisplayName": "Person akua", "Type": "PERSONAL",
                                 "Plan": {"Stages": []}}
    assert result["pages"] == [["js-akua", "js-bongani"], ["js-chidi"]]

    channel = result["channel"]
    assert channel["ContactChannelArn"].startswith(f"{base}:contact-channel/js-akua/")
    assert channel == {"ContactArn": f"{base}:contact/js-akua",
                       "ContactChannelArn": channel["ContactChannelArn"], "Name": "work mail",
                       "Type": "EMAIL", "DeliveryAddress": {"SimpleAddress": "akua@example.com"},
                       "ActivationStatus": "NOT_ACTIVATED"}
    assert result["listedChannels"] == [channel["ContactChannelArn"]]

    not_found = result["notFound"]
    assert (not_found["name"], not_found["status"], not_found["resourceType"]) == (
        "ResourceNotFoundException", 404, "CONTACT")
    assert not_found["requestId"]
    invalid = result["invalid"]
    assert (invalid["name"], invalid["status"], invalid["reason"]) == (
        "ValidationException", 400, "FIELD_VALIDATION_FAILED")
    assert [f["Name"] for f in invalid["fields"]] == ["Alias"]


# -- every operation (tests/js/operations.mjs) -----------------------------------------------

def node_script(script: str, args: list[str], account: str,
                env: dict[str, str] | None = None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed")
    if not (JS / "node_modules" / "@aws-sdk" / "client-ssm-contacts").is_dir():
        missing(f"@aws-sdk/client-ssm-contacts is not installed (npm install --prefix {JS})")
    done = subprocess.run([node, script, *args], cwd=JS, env={**aws_env(account), **(env or {})},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def differences(js: Any, py: Any, path: str = "") -> list[str]:
    """Where the JavaScript SDK's answer (as operations.mjs prints it: a Date is
    ``{"$date": ms}``) differs from boto3's. Nothing may differ, not a number's type, nor an
    instant by a microsecond (the server sends milliseconds, as AWS does)."""
    if isinstance(py, datetime):
        if not (isinstance(js, dict) and set(js) == {"$date"}):
            return [f"{path}: {js!r} is not a Date (boto3: {py})"]
        micros = (py - EPOCH) // timedelta(microseconds=1)
        return [] if js["$date"] * 1000 == micros else [f"{path}: {js} != {py}"]
    if isinstance(py, dict):
        py = {k: v for k, v in py.items() if k != "ResponseMetadata"}
        if not isinstance(js, dict) or set(js) != set(py):
            return [f"{path}: members {sorted(js) if isinstance(js, dict) else js!r} "
                    f"!= {sorted(py)}"]
        return [d for k in py for d in differences(js[k], py[k], f"{path}.{k}")]
    if isinstance(py, list):
        if not isinstance(js, list) or len(js) != len(py):
            return [f"{path}: {js!r} != {py!r}"]
        return [d for i, (a, b) in enumerate(zip(js, py, strict=True))
                for d in differences(a, b, f"{path}[{i}]")]
    if type(js) is not type(py) or js != py:
        return [f"{path}: {js!r} ({type(js).__name__}) != {py!r} ({type(py).__name__})"]
    return []


def at(text: str) -> int:
    """Epoch milliseconds of an ISO instant."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def shift(start: str, end: str, who: list[str], overridden: list[str] | None = None
          ) -> dict[str, Any]:
    item: dict[str, Any] = {"ContactIds": who, "StartTime": {"$date": at(start)},
                            "EndTime": {"$date": at(end)}, "Type": "REGULAR"}
    if overridden is not None:
        item.update(Type="OVERRIDDEN", ShiftDetails={"OverriddenContactIds": overridden})
    return item


def js_error(name: str, status: int, message: str, **members: Any) -> dict[str, Any]:
    return {"name": name, "modeledClass": True, "serviceException": True, "message": message,
            "fault": "client", "status": status, "hasRequestId": True, "members": members}


SIGNED_CREDENTIALS = """
[[credentials]]
access_key_id = "{SIGNED_KEY_ID}"
secret_access_key = "{SIGNED_SECRET}"
account_id = "{SIGNED_ACCOUNT}"
user = "jsop"
policy = '''{{"Version": "2012-10-17", "Statement": [
    {{"Effect": "Allow", "Action": ["ssm-contacts:Get*", "ssm-contacts:List*"], "Resource": "*"}}
]}}'''
"""


def test_every_operation_as_the_sdk_parses_it(sqlite_server: ServerProcess,
                                              tmp_path: Path) -> None:
    account = new_account()
    signer = {"SIGNED_KEY_ID": "AKIAJSOPEXAMPLE00001", "SIGNED_SECRET": "jsop-secret",
              "SIGNED_ACCOUNT": "444455556666"}
    credentials = tmp_path / "credentials.toml"
    credentials.write_text(SIGNED_CREDENTIALS.format(**signer))
    credentials.chmod(0o600)    # the server refuses a credentials file others can read
    (tmp_path / "throttled").mkdir()
    (tmp_path / "signed").mkdir()
    throttled = start_server(tmp_path / "throttled",
                             env={"INCIDENT_CONTACTS_THROTTLE_RATE": "0.5",
                                  "INCIDENT_CONTACTS_THROTTLE_BURST": "1"})
    try:
        signed = start_server(tmp_path / "signed",
                              args=["--auth", "sigv4", "--credentials", str(credentials)])
        try:
            result = node_script("operations.mjs",
                                 [sqlite_server.url, throttled.url, signed.url], account, signer)
        finally:
            signed.stop()
    finally:
        throttled.stop()
    operations = sorted(botocore.session.get_session().get_service_model(
        "ssm-contacts").operation_names)
    assert len(operations) == 39
    assert result["commands"] == operations
    assert result["called"] == operations

    ids = result["ids"]
    base = f"arn:aws:ssm-contacts:us-east-1:{account}"
    ana, ben, rotation = ids["ana"], ids["ben"], ids["rotation"]
    assert (ana, ben, ids["schedule"]) == (
        f"{base}:contact/jsop-ana", f"{base}:contact/jsop-ben", f"{base}:contact/jsop-oncall")
    for empty in ("sendActivationCode", "activate", "updateChannel", "deactivate",
                  "deleteChannel", "updateContact", "updateRotation", "deleteOverride",
                  "acceptDelivered", "acceptRead", "stop", "putPolicy", "tag", "untag"):
        assert result[empty] == {}, empty
    assert result["deletes"] == {"DeleteContact": {}, "DeleteRotation": {}}
    mail = {"ContactArn": ana, "ContactChannelArn": ids["mail"], "Name": "work mail",
            "Type": "EMAIL", "DeliveryAddress": {"SimpleAddress": "ana@example.com"},
            "ActivationStatus": "NOT_ACTIVATED"}
    assert result["channel"] == mail
    [first, second] = result["channelPages"]
    assert first["ContactChannels"] == [
        {"ContactArn": ana, "ContactChannelArn": ids["sms"], "Name": "phone", "Type": "SMS",
         "DeliveryAddress": {"SimpleAddress": "+15005550199"}, "ActivationStatus": "ACTIVATED"}]
    assert first["NextToken"] and second == {"ContactChannels": [mail]}

    # What boto3 reads from the same server, call for call, page for page.
    client = boto3.client("ssm-contacts", region_name="us-east-1",
                          endpoint_url=sqlite_server.url, aws_access_key_id=account,
                          aws_secret_access_key="secret", config=NO_RETRIES)
    window = {k: datetime.fromtimestamp(v, UTC) for k, v in result["window"].items()}
    january = {"StartTime": datetime(2030, 1, 7, tzinfo=UTC),
               "EndTime": datetime(2030, 1, 21, tzinfo=UTC)}
    calls: dict[str, tuple[str, dict[str, Any], int | None]] = {
        "GetContact": ("get_contact", {"ContactId": ana}, None),
        "GetContactEscalation": ("get_contact", {"ContactId": ids["escalation"]}, None),
        "GetContactSchedule": ("get_contact", {"ContactId": ids["schedule"]}, None),
        "GetContactChannel": ("get_contact_channel", {"ContactChannelId": ids["sms"]}, None),
        "ListContacts": ("list_contacts", {"AliasPrefix": "jsop-"}, 2),
        "GetRotation": ("get_rotation", {"RotationId": rotation}, None),
        "GetRotationDaily": ("get_rotation", {"RotationId": ids["daily"]}, None),
        "ListRotations": ("list_rotations", {"RotationNamePrefix": "jsop"}, 1),
        "GetRotationOverride": ("get_rotation_override", {
            "RotationId": rotation, "RotationOverrideId": ids["overrideId"]}, None),
        "ListRotationOverrides": ("list_rotation_overrides", {
            "RotationId": rotation, "StartTime": datetime(2030, 1, 1, tzinfo=UTC),
            "EndTime": datetime(2030, 3, 1, tzinfo=UTC)}, 1),
        "ListRotationShifts": ("list_rotation_shifts", {"RotationId": rotation, **january}, 2),
        "DescribeEngagement": ("describe_engagement", {"EngagementId": ids["engagement"]}, None),
        "DescribeEngagementStopped": ("describe_engagement",
                                      {"EngagementId": ids["second"]}, None),
        "ListEngagements": ("list_engagements", {"TimeRangeValue": window}, 1),
        "ListEngagementsByIncident": ("list_engagements", {"IncidentId": "jsop-incident-1"}, 0),
        "DescribePage": ("describe_page", {"PageId": ids["page"]}, None),
        "ListPagesByContact": ("list_pages_by_contact", {"ContactId": ana}, 1),
        "ListPagesByEngagement": ("list_pages_by_engagement",
                                  {"EngagementId": ids["engagement"]}, 1),
        "ListPageReceipts": ("list_page_receipts", {"PageId": ids["page"]}, 2),
        "ListPageResolutions": ("list_page_resolutions", {"PageId": ids["page"]}, 0),
        "ListPageResolutionsEscalated": ("list_page_resolutions",
                                         {"PageId": ids["escalated"]}, 0),
        "GetContactPolicy": ("get_contact_policy", {"ContactArn": ana}, None),
        "ListTagsForResource": ("list_tags_for_resource", {"ResourceARN": rotation}, None),
        "ListTagsForContact": ("list_tags_for_resource", {"ResourceARN": ana}, None),
    }
    reads = result["reads"]
    assert set(reads) == set(calls)
    found: list[str] = []
    for key, (method, params, page_size) in calls.items():
        if page_size is None:
            seen: Any = getattr(client, method)(**params)
        else:
            config = {"PageSize": page_size} if page_size else {}
            seen = list(client.get_paginator(method).paginate(**params,
                                                              PaginationConfig=config))
        found += differences(reads[key], seen, key)
    assert found == []

    # The instants the SDK parsed are the ones sent.
    weekly = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 2, "WeeklySettings": [
        {"DayOfWeek": "MON", "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 30}},
        {"DayOfWeek": "THU", "HandOffTime": {"HourOfDay": 17, "MinuteOfHour": 0}}]}
    assert reads["GetRotation"] == {
        "RotationArn": rotation, "Name": "jsop primary", "ContactIds": [ana, ben],
        "StartTime": {"$date": at("2030-01-07T08:30:00+00:00")}, "TimeZoneId": "Europe/Berlin",
        "Recurrence": weekly}
    assert reads["GetRotationDaily"] == {
        "RotationArn": ids["daily"], "Name": "jsop secondary", "ContactIds": [ben],
        "StartTime": {"$date": at("2030-01-02T00:00:00+00:00")}, "TimeZoneId": "Asia/Seoul",
        "Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, "MonthlySettings": [
            {"DayOfMonth": 20, "HandOffTime": {"HourOfDay": 8, "MinuteOfHour": 0}}]}}
    assert [r["Rotations"][0]["Name"] for r in reads["ListRotations"]] == [
        "jsop primary", "jsop secondary"]
    low, high = (result["window"][k] * 1000 for k in ("StartTime", "EndTime"))
    override = reads["GetRotationOverride"]
    created = override.pop("CreateTime")["$date"]
    assert override == {"RotationOverrideId": ids["overrideId"], "RotationArn": rotation,
                        "NewContactIds": [ben],
                        "StartTime": {"$date": at("2030-01-08T10:00:00+00:00")},
                        "EndTime": {"$date": at("2030-01-08T16:00:00+00:00")}}
    [[listed]] = [page["RotationOverrides"] for page in reads["ListRotationOverrides"]]
    assert listed == {**{k: v for k, v in override.items() if k != "RotationArn"},
                      "CreateTime": {"$date": created}}

    shifts = [s for page in reads["ListRotationShifts"] for s in page["RotationShifts"]]
    assert [len(page["RotationShifts"]) for page in reads["ListRotationShifts"]] == [2, 2]
    assert shifts[:2] == [
        shift("2030-01-07T08:30:00+00:00", "2030-01-08T10:00:00+00:00", [ana]),
        shift("2030-01-08T10:00:00+00:00", "2030-01-08T16:00:00+00:00", [ben], [ana])]
    # The preview of the same settings, with names for members, computes the same shifts.
    names = {ana: "Ana", ben: "Ben"}
    preview = [s for page in result["previewPages"] for s in page["RotationShifts"]]
    assert preview == [
        {**s, "ContactIds": [names[c] for c in s["ContactIds"]],
         **({"ShiftDetails": {"OverriddenContactIds": [
             names[c] for c in s["ShiftDetails"]["OverriddenContactIds"]]}}
            if "ShiftDetails" in s else {})}
        for s in shifts]

    # Engagements and pages: Dates where the model has timestamps, in the call's window.
    engagement = reads["DescribeEngagement"]
    started = engagement.pop("StartTime")["$date"]
    assert created <= started and low <= started <= high
    assert engagement == {
        "ContactArn": ana, "EngagementArn": ids["engagement"], "Sender": "js-sdk",
        "Subject": "Database down", "Content": "Primary is down", "PublicSubject": "Alert",
        "PublicContent": "Check the console", "IncidentId": "jsop-incident-1"}
    stopped = reads["DescribeEngagementStopped"]
    assert started <= stopped["StartTime"]["$date"] <= stopped["StopTime"]["$date"] <= high
    assert [[e["EngagementArn"] for e in page["Engagements"]]
            for page in reads["ListEngagements"]] == [[ids["second"]], [ids["engagement"]]]
    assert "NextToken" in reads["ListEngagements"][0]
    assert "NextToken" not in reads["ListEngagements"][1]
    page = reads["DescribePage"]
    times = [page[k]["$date"] for k in ("SentTime", "DeliveryTime", "ReadTime")]
    assert started <= times[0] <= times[1] <= times[2] <= high
    receipts = [r for p in reads["ListPageReceipts"] for r in p["Receipts"]]
    assert [(r["ReceiptType"], r["ContactChannelArn"]) for r in receipts] == [
        ("SENT", ids["sms"]), ("DELIVERED", ids["sms"]), ("READ", ids["sms"])]
    assert receipts[1]["ReceiptInfo"].isdigit() and receipts[2]["ReceiptInfo"] == "on it"
    assert [r["ReceiptTime"]["$date"] for r in receipts] == times
    assert reads["ListPageResolutions"] == [{"PageResolutions": [
        {"ContactArn": ana, "Type": "PERSONAL"}]}]
    assert reads["ListPageResolutionsEscalated"] == [{"PageResolutions": [
        {"ContactArn": ids["escalation"], "Type": "ESCALATION"},
        {"ContactArn": ana, "Type": "PERSONAL", "StageIndex": 0}]}]
    assert reads["GetContactEscalation"]["Plan"]["Stages"] == [
        {"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": ana, "IsEssential": True}},
            {"ContactTargetInfo": {"ContactId": ids["schedule"], "IsEssential": False}}]},
        {"DurationInMinutes": 10, "Targets": [
            {"ContactTargetInfo": {"ContactId": ben, "IsEssential": False}}]}]
    assert reads["GetContact"]["Plan"] == {"Stages": [{"DurationInMinutes": 0, "Targets": [
        {"ChannelTargetInfo": {"ContactChannelId": ids["sms"], "RetryIntervalInMinutes": 2}}]}]}
    assert json.loads(reads["GetContactPolicy"]["Policy"]) == json.loads(ids["policy"])
    assert sorted(map(tuple, map(dict.values, reads["ListTagsForResource"]["Tags"]))) == [
        ("owner", "ops"), ("tier", "2")]
    assert reads["ListTagsForContact"] == {"Tags": []}

    # Errors: the SDK's modeled classes, members as properties, the status in $metadata.
    errors = result["errors"]
    missing_rotation = rotation[:-36] + "00000000-0000-4000-8000-000000000000"
    missing_page = ids["page"][:-36] + "00000000-0000-4000-8000-000000000000"
    field = ("Value '{0}' at 'Recurrence.{1}' failed to satisfy constraint: Member must have "
             "value {2}")
    broken = [("24", "DailySettings[0].HourOfDay", "less than or equal to 23"),
              ("0", "NumberOfOnCalls", "greater than or equal to 1"),
              ("101", "RecurrenceMultiplier", "less than or equal to 100")]
    assert errors["validation"] == js_error(
        "ValidationException", 400,
        "3 validation errors detected: " + "; ".join(field.format(*b) for b in broken),
        Reason="FIELD_VALIDATION_FAILED",
        Fields=[{"Name": f"Recurrence.{b[1]}", "Message": field.format(*b)} for b in broken])
    assert errors["rotationNotFound"] == js_error(
        "ResourceNotFoundException", 404, f"Rotation {missing_rotation} was not found.",
        ResourceId=missing_rotation, ResourceType="ROTATION")
    assert errors["pageNotFound"] == js_error(
        "ResourceNotFoundException", 404, f"Page {missing_page} was not found.",
        ResourceId=missing_page, ResourceType="PAGE")
    assert errors["channelNotFound"] == js_error(
        "ResourceNotFoundException", 404, f"Contact channel {ids['mail']} was not found.",
        ResourceId=ids["mail"], ResourceType="CONTACT_CHANNEL")
    assert errors["deletedContact"] == js_error(
        "ResourceNotFoundException", 404, f"Contact {ids['temporary']} was not found.",
        ResourceId=ids["temporary"], ResourceType="CONTACT")
    assert errors["deletedRotation"] == js_error(
        "ResourceNotFoundException", 404, f"Rotation {ids['temporaryRotation']} was not found.",
        ResourceId=ids["temporaryRotation"], ResourceType="ROTATION")
    assert errors["duplicate"] == js_error(
        "ConflictException", 409, "A contact with the alias jsop-ana already exists.",
        ResourceId="jsop-ana", ResourceType="CONTACT")
    assert errors["inUse"] == js_error(
        "ConflictException", 409,
        f"Contact {ben} cannot be deleted: it is a member of 2 rotations.",
        ResourceId=ben, ResourceType="CONTACT", DependentEntities=[
            {"RelationType": "ROTATION_MEMBER",
             "DependentResourceIds": [rotation, ids["daily"]]}])
    assert errors["quota"] == js_error(
        "ServiceQuotaExceededException", 402,
        "At most 5 activation codes can be sent to a contact channel in an hour.",
        ResourceId=ids["quiet"], ResourceType="CONTACT_CHANNEL",
        QuotaCode="activation-codes-per-channel-per-hour", ServiceCode="ssm-contacts")
    assert result["wrongCode"] == js_error(
        "ValidationException", 400,
        "1 validation error detected: The accept code is not this page's.",
        Reason="FIELD_VALIDATION_FAILED",
        Fields=[{"Name": "AcceptCode", "Message": "The accept code is not this page's."}])
    assert errors["unknownOperation"] == js_error(
        "ValidationException", 400,
        "The operation SSMContacts.PlayMusic is not known to this service.",
        Reason="UNKNOWN_OPERATION")
    assert errors["malformed"] == js_error(
        "ValidationException", 400, "The request body could not be parsed as JSON.",
        Reason="CANNOT_PARSE")
    assert errors["notAnObject"] == js_error(
        "ValidationException", 400, "The request body must be a JSON object.",
        Reason="CANNOT_PARSE")
    assert errors["wrongType"] == js_error(
        "ValidationException", 400, "1 validation error detected: Member must be an integer",
        Reason="FIELD_VALIDATION_FAILED",
        Fields=[{"Name": "MaxResults", "Message": "Member must be an integer"}])
    assert errors["notRetried"] == {"name": "ValidationException", "attempts": 1}

    # The same failures through boto3: the same code, message, status and members.
    failing = {
        "rotationNotFound": ("get_rotation", {"RotationId": missing_rotation}),
        "pageNotFound": ("describe_page", {"PageId": missing_page}),
        "duplicate": ("create_contact", {"Alias": "jsop-ana", "Type": "PERSONAL",
                                         "Plan": {"Stages": []}}),
        "inUse": ("delete_contact", {"ContactId": ben}),
        "quota": ("send_activation_code", {"ContactChannelId": ids["quiet"]}),
        "validation": ("create_rotation", {
            "Name": "jsop bad", "ContactIds": [ana], "TimeZoneId": "UTC",
            "Recurrence": {"NumberOfOnCalls": 0, "RecurrenceMultiplier": 101,
                           "DailySettings": [{"HourOfDay": 24, "MinuteOfHour": 0}]}}),
    }
    unchecked = boto3.client("ssm-contacts", region_name="us-east-1",
                             endpoint_url=sqlite_server.url, aws_access_key_id=account,
                             aws_secret_access_key="secret",
                             config=NO_RETRIES.merge(Config(parameter_validation=False)))
    for key, (method, params) in failing.items():
        with pytest.raises(ClientError) as raised:
            getattr(unchecked, method)(**params)
        response = raised.value.response
        members = {k: v for k, v in response.items()
                   if k not in ("Error", "ResponseMetadata", "Message")}
        assert {"name": response["Error"]["Code"], "message": response["Error"]["Message"],
                "status": response["ResponseMetadata"]["HTTPStatusCode"],
                "members": members} == {k: errors[key][k] for k in
                                        ("name", "message", "status", "members")}, key

    # Throttling: a modeled ThrottlingException with its members, which the SDK retries.
    throttling = result["throttled"]
    assert throttling["statuses"] == [200]
    assert throttling["refused"] == {**js_error(
        "ThrottlingException", 429, "Rate exceeded", ServiceCode="ssm-contacts",
        RetryAfterSeconds=2), "retryable": None}
    assert throttling["retried"]["attempts"] == 2
    assert throttling["retried"]["outcome"] in ("ThrottlingException", "success")

    # Under SigV4: AccessDeniedException is modeled; the signature refusals are not, and come
    # back as the SDK's base exception, named by the code the server sent, with its message.
    refused = result["signed"]
    contact = "arn:aws:ssm-contacts:us-east-1:444455556666:contact/jsop-ana"
    assert refused["denied"] == {**js_error(
        "AccessDeniedException", 403,
        "User: arn:aws:iam::444455556666:user/jsop is not authorized to perform: "
        f"ssm-contacts:DeleteContact on resource: {contact} because no identity-based policy "
        "allows the ssm-contacts:DeleteContact action"), "className": "AccessDeniedException"}
    assert refused["unknownKey"] == {
        **js_error("UnrecognizedClientException", 403,
                   "The security token included in the request is invalid."),
        "modeledClass": False, "className": "SSMContactsServiceException"}
    assert refused["badSecret"] == {
        **js_error("InvalidSignatureException", 403,
                   "The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details."),
        "modeledClass": False, "className": "SSMContactsServiceException"}
    assert refused["allowed"] == {"Contacts": []}
