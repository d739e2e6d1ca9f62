"""AWS JSON 1.1 on the wire (decisions §2 and §5): headers, unknown targets, unparsable bodies,
absent members, error statuses, and one test for each kind of model constraint with the exact
``Fields`` path.

Most requests go through a real boto3 client against the in-process mock; the client made
with ``parameter_validation=False`` sends what botocore would refuse to, so the server's own
checks are what answers. Requests no SDK sends (an unknown target, a body that is not a JSON
object) go through the ASGI application in-process.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from incident_contacts import model
from incident_contacts.api import app as app_module
from incident_contacts.api.app import MAX_BODY, Application
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.api.operations import OPERATIONS, Operation
from incident_contacts.auth.throttle import Throttle
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.errors import (
    MODELED_ERRORS,
    AccessDeniedException,
    ConflictException,
    DataEncryptionException,
    InternalServerException,
    ResourceNotFoundException,
    ServiceError,
    ServiceQuotaExceededException,
    ThrottlingException,
    ValidationException,
)
from incident_contacts.protocol import awsjson
from incident_contacts.protocol.awsjson import CONTENT_TYPE
from incident_contacts.server import build_application, build_runtime
from incident_contacts.service.context import Caller
from incident_contacts.testing import SsmContactsMock
from tests.protocol.helpers import (
    ERROR_STATUS,
    botocore_parse,
    call,
    check_response,
    header_map,
    new_runtime,
    nulls,
    ok,
)

REGION = "us-east-1"
ACCOUNT = "000000000000"
RAW_CONFIG = Config(parameter_validation=False,
                    retries={"total_max_attempts": 1, "mode": "standard"})
CHECKED_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})


class Recorder:
    """Keeps every raw response a client receives (botocore's ``before-parse`` event)."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, int, dict[str, str], bytes]] = []

    def __call__(self, operation_model: Any, response_dict: dict[str, Any],
                 **_kwargs: Any) -> None:
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        self.responses.append((operation_model.name, response_dict["status_code"], headers,
                               response_dict["body"]))

    def last_body(self) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(self.responses[-1][3])
        return body


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _client(config: Config, recorder: Recorder) -> Any:
    client = boto3.client("ssm-contacts", region_name=REGION, config=config,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.meta.events.register("before-parse.ssm-contacts", recorder)
    return client


@pytest.fixture
def client(ssm_contacts: SsmContactsMock, recorder: Recorder) -> Any:
    """A boto3 client that validates as botocore does."""
    return _client(CHECKED_CONFIG, recorder)


@pytest.fixture
def raw(ssm_contacts: SsmContactsMock, recorder: Recorder) -> Any:
    """A boto3 client that sends whatever it is given."""
    return _client(RAW_CONFIG, recorder)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)


class AsgiClient:
    """Sends one request at a time straight into the ASGI application."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def post(self, headers: dict[str, str], body: bytes) -> RawResponse:
        return asyncio.run(self._post(headers, body))

    async def _post(self, headers: dict[str, str], body: bytes) -> RawResponse:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/", "raw_path": b"/",
            "query_string": b"", "root_path": "", "server": ("127.0.0.1", 4575),
            "client": ("127.0.0.1", 50000),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
        # The body arrives in pieces, as a server hands over a large one.
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)] or [b""]
        incoming = [{"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
                    for i, piece in enumerate(pieces)]
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = sent[0]
        assert start["type"] == "http.response.start"
        names = [k.decode("latin-1").lower() for k, _ in start["headers"]]
        assert len(names) == len(set(names)), names
        response_headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                            for k, v in start["headers"]}
        content = b"".join(m.get("body", b"") for m in sent[1:])
        assert int(response_headers["content-length"]) == len(content)
        return RawResponse(start["status"], response_headers, content)


@pytest.fixture
def http() -> Iterator[AsgiClient]:
    """The ASGI application, in-process."""
    app = build_application(Settings(database="sqlite://", throttle_rate=0, workers=False))
    yield AsgiClient(app)
    app.runtime.close()


def _contact(client: Any, alias: str = "akua", **extra: Any) -> str:
    arn: str = client.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []},
                                     **extra)["ContactArn"]
    return arn


def _validation(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    assert response["Error"]["Code"] == "ValidationException", response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response


def _fields(excinfo: pytest.ExceptionInfo[ClientError]) -> list[tuple[str, str]]:
    response = _validation(excinfo)
    assert response["Reason"] == "FIELD_VALIDATION_FAILED", response
    return [(f["Name"], f["Message"]) for f in response["Fields"]]


def _one_field(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    fields = _fields(excinfo)
    assert len(fields) == 1, fields
    assert excinfo.value.response["Error"]["Message"].startswith("1 validation error detected: ")
    return fields[0]


# -- headers and absent members -------------------------------------------------------------


def test_every_response_carries_the_protocol_headers(client: Any, raw: Any,
                                                     recorder: Recorder) -> None:
    arn = _contact(client)
    client.get_contact(ContactId=arn)
    client.update_contact(ContactId=arn, DisplayName="Akua Mensah")
    client.list_contacts()
    client.list_tags_for_resource(ResourceARN=arn)
    with pytest.raises(ClientError):
        _contact(client)                                               # 409
    with pytest.raises(ClientError):
        client.get_contact(ContactId=arn + "x")                        # 404
    with pytest.raises(ClientError):
        raw.create_contact(Alias="", Type="PERSONAL", Plan={"Stages": []})  # 400
    assert [r[1] for r in recorder.responses] == [200, 200, 200, 200, 200, 409, 404, 400]
    request_ids = set()
    for _operation, status, headers, body in recorder.responses:
        assert headers["content-type"] == CONTENT_TYPE
        assert headers["x-amzn-requestid"]
        request_ids.add(headers["x-amzn-requestid"])
        if status >= 300:
            assert headers["x-amzn-errortype"] == orjson.loads(body)["__type"]
        else:
            assert "x-amzn-errortype" not in headers
    assert len(request_ids) == len(recorder.responses)


def test_absent_members_are_omitted_never_null(client: Any, recorder: Recorder) -> None:
    arn = _contact(client)
    client.get_contact(ContactId=arn)
    got = recorder.last_body()
    assert "DisplayName" not in got
    assert got["Plan"] == {"Stages": []}
    client.list_contacts()
    listed = recorder.last_body()
    assert "NextToken" not in listed
    assert listed["Contacts"] == [{"ContactArn": arn, "Alias": "akua", "Type": "PERSONAL"}]
    client.update_contact(ContactId=arn, DisplayName="Akua")
    assert recorder.last_body() == {}
    with pytest.raises(ClientError):
        client.get_contact(ContactId=arn + "x")
    error = recorder.last_body()
    assert set(error) == {"__type", "Message", "ResourceId", "ResourceType"}
    for _operation, _status, _headers, body in recorder.responses:
        assert not list(nulls(orjson.loads(body)))


# -- targets and bodies no SDK sends ------------------------------------------------------------


def _post(http: AsgiClient, target: str | None, body: bytes) -> RawResponse:
    headers = {"content-type": CONTENT_TYPE}
    if target is not None:
        headers["x-amz-target"] = target
    response = http.post(headers, body)
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.headers["x-amzn-requestid"]
    return response


@pytest.mark.parametrize("target", [
    "SSMContacts.NoSuchOperation",
    "SSMContacts.",
    "SSMContacts",
    "AmazonSSM.GetParameter",
    "ssmcontacts.GetContact",
    "SSMContacts.getContact",
    None,
    "",
])
def test_unknown_or_missing_target_is_unknown_operation(http: AsgiClient,
                                                        target: str | None) -> None:
    response = _post(http, target, b"{}")
    assert response.status == 400
    assert response.json()["__type"] == "ValidationException"
    assert response.json()["Reason"] == "UNKNOWN_OPERATION"
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    parsed = botocore_parse("GetContact", 400, response.headers, response.content)
    assert parsed["Error"]["Code"] == "ValidationException"
    assert parsed["Reason"] == "UNKNOWN_OPERATION"


@pytest.mark.parametrize("body", [
    b"[]", b'["ContactId"]', b'"text"', b"12", b"null", b"true",
    b"{", b'{"Alias": }', b"\xff\xfe", b'{"Alias": "\xc3\x28"}', b"{}{}",
])
def test_a_body_that_is_not_a_json_object_cannot_be_parsed(http: AsgiClient,
                                                           body: bytes) -> None:
    response = _post(http, "SSMContacts.ListContacts", body)
    assert response.status == 400
    assert response.json()["__type"] == "ValidationException"
    assert response.json()["Reason"] == "CANNOT_PARSE"


def test_an_empty_body_is_an_empty_object(http: AsgiClient) -> None:
    response = _post(http, "SSMContacts.ListContacts", b"")
    assert response.status == 200
    assert response.json() == {"Contacts": []}


def test_a_body_over_two_mebibytes_cannot_be_parsed(http: AsgiClient) -> None:
    body = b'{"Alias": "' + b"a" * MAX_BODY + b'"}'
    response = _post(http, "SSMContacts.CreateContact", body)
    assert response.status == 400
    assert response.json()["Reason"] == "CANNOT_PARSE"


@pytest.mark.parametrize("sent_first", [None, b'{"Alias": "akua", "Type": "PERSONAL", '
                                               b'"Plan": {"Stages": []}}'])
def test_a_request_whose_client_left_before_its_body_ended_is_not_run(
        http: AsgiClient, sent_first: bytes | None) -> None:
    """A client that disconnects before the end of its body (before any of it, or after a
    part that happens to be valid JSON) has its request dropped, not run on what came."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
        "server": ("127.0.0.1", 4575), "client": ("127.0.0.1", 50000),
        "headers": [(b"x-amz-target", b"SSMContacts.CreateContact"),
                    (b"content-type", CONTENT_TYPE.encode())],
    }
    incoming: list[dict[str, Any]] = [{"type": "http.disconnect"}]
    if sent_first is not None:
        incoming.insert(0, {"type": "http.request", "body": sent_first, "more_body": True})
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(http.app(scope, receive, send))
    assert sent == []
    assert _post(http, "SSMContacts.ListContacts", b"{}").json() == {"Contacts": []}


def test_members_the_model_does_not_name_are_ignored(http: AsgiClient) -> None:
    response = _post(http, "SSMContacts.ListContacts", b'{"Nonsense": [1, {"a": null}]}')
    assert response.status == 200


def test_header_names_in_any_case(http: AsgiClient) -> None:
    """ASGI asks servers for lower-case header names; one that sends them as the client wrote
    them is understood all the same."""
    response = http.post({"X-Amz-Target": "SSMContacts.ListContacts",
                             "Content-Type": "application/x-amz-json-1.1"}, b"{}")
    assert response.status == 200
    assert response.json() == {"Contacts": []}


def test_long_header_names_are_not_remembered(http: AsgiClient) -> None:
    """The table of header names seen keeps only names of a reasonable length: a client
    could otherwise leave hundreds of names of megabytes in the server's memory."""
    long_name = "X-" + "n" * 100_000
    response = http.post({"X-Amz-Target": "SSMContacts.ListContacts", long_name: "1"}, b"{}")
    assert response.status == 200
    assert long_name.encode() not in app_module._NAMES
    assert b"X-Amz-Target" in app_module._NAMES


def test_a_member_sent_as_null_is_a_member_not_sent(http: AsgiClient) -> None:
    created = _post(http, "SSMContacts.CreateContact",
                    b'{"Alias": "nully", "Type": "PERSONAL", "Plan": {"Stages": []}}')
    arn = created.json()["ContactArn"]
    body = orjson.dumps({"ContactId": arn, "Plan": None, "DisplayName": None})
    assert _post(http, "SSMContacts.UpdateContact", body).status == 200
    got = _post(http, "SSMContacts.GetContact", orjson.dumps({"ContactId": arn})).json()
    assert got["Plan"] == {"Stages": []}
    assert "DisplayName" not in got
    refused = _post(http, "SSMContacts.CreateContact",
                    b'{"Alias": "other", "Type": null, "Plan": {"Stages": []}}')
    assert refused.status == 400
    assert refused.json()["Fields"] == [{"Name": "Type", "Message": "Member must not be null"}]


# -- the tables against the model -----------------------------------------------------------------


def test_the_operation_table_is_the_models() -> None:
    assert set(OPERATIONS) == set(model.operation_names())
    assert len(OPERATIONS) == 39


def test_the_modeled_error_classes_are_the_models_error_shapes() -> None:
    shapes = {shape.name for shape in model.service_model().error_shapes}
    assert {cls.code for cls in MODELED_ERRORS} == shapes
    assert len(MODELED_ERRORS) == len(shapes) == 8
    for name in shapes:
        assert model.error_status(name) == ERROR_STATUS[name], name


SAMPLES: list[ServiceError] = [
    AccessDeniedException("User: arn:aws:iam::111122223333:user/bob is not authorized."),
    ConflictException("taken", resource_id="arn:aws:ssm-contacts:us-east-1:1:contact/a",
                      resource_type="CONTACT",
                      dependent_entities=[{"RelationType": "ROTATION",
                                           "DependentResourceIds": ["r1"]}]),
    DataEncryptionException("The record could not be decrypted."),
    InternalServerException(retry_after_seconds=3),
    ResourceNotFoundException("gone", resource_id="x", resource_type="CONTACT_CHANNEL"),
    ServiceQuotaExceededException("too many", quota_code="activation-codes-per-hour",
                                  resource_id="arn:x", resource_type="CONTACT_CHANNEL"),
    ThrottlingException("slow down", quota_code="requests", retry_after_seconds=2),
    ValidationException("1 validation error detected: x",
                        fields=[{"Name": "Alias", "Message": "x"}]),
]


def test_samples_cover_every_modeled_error() -> None:
    assert sorted(type(e).__name__ for e in SAMPLES) == sorted(c.__name__ for c in MODELED_ERRORS)


@pytest.mark.parametrize("exc", SAMPLES, ids=lambda e: type(e).__name__)
def test_each_error_has_its_status_and_every_member_reaches_botocore(exc: ServiceError) -> None:
    response = awsjson.error("request-1", exc)
    assert response.status == ERROR_STATUS[exc.code]
    headers = header_map(response)
    assert headers["x-amzn-errortype"] == exc.code
    # Any operation that models the error will do to read it.
    operation = next(name for name in sorted(model.operation_names())
                     if exc.code in {s.name for s in model.operation_model(name).error_shapes})
    parsed = check_response(operation, response, server_error=True)
    assert parsed["Error"] == {"Code": exc.code, "Message": exc.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "request-1"
    for name, value in exc.members.items():
        assert parsed[name] == value, name
    retry = exc.members.get("RetryAfterSeconds")
    assert headers.get("retry-after") == (str(retry) if retry is not None else None)


def test_conflict_is_409(client: Any) -> None:
    """``ResourceId`` is the identifier as the request gave it: the alias (decisions §5)."""
    _contact(client, "akua")
    with pytest.raises(ClientError) as excinfo:
        _contact(client, "akua")
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert (response["Error"]["Code"], response["ResourceId"], response["ResourceType"]) == (
        "ConflictException", "akua", "CONTACT")


def test_not_found_is_404(client: Any) -> None:
    arn = _contact(client) + "-gone"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.get_contact(ContactId=arn)
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (response["ResourceId"], response["ResourceType"]) == (arn, "CONTACT")


def test_quota_is_402(client: Any) -> None:
    contact = _contact(client)
    channel = client.create_contact_channel(
        ContactId=contact, Name="phone", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15005550199"})["ContactChannelArn"]
    for _ in range(Settings().activation_send_limit - 1):   # the create sent the first
        client.send_activation_code(ContactChannelId=channel)
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as excinfo:
        client.send_activation_code(ContactChannelId=channel)
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert response["ServiceCode"] == "ssm-contacts"
    assert (response["ResourceId"], response["ResourceType"]) == (channel, "CONTACT_CHANNEL")


def test_throttling_is_429_with_retry_after() -> None:
    runtime = new_runtime()
    throttle = Throttle(1.0, 1, runtime.clock)

    def guard(caller: Caller, operation: str, _params: dict[str, Any]) -> None:
        throttle.acquire(caller.account, operation)

    dispatcher = Dispatcher(runtime, guards=[guard])
    try:
        ok(dispatcher, "ListContacts", {})
        response = call(dispatcher, "ListContacts", {})
        parsed = check_response("ListContacts", response)
        assert response.status == 429
        assert parsed["Error"]["Code"] == "ThrottlingException"
        assert header_map(response)["retry-after"] == str(parsed["RetryAfterSeconds"])
    finally:
        runtime.close()


def test_an_unexpected_failure_is_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    runtime = new_runtime()

    def broken(_ctx: Any, _params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("secret detail from deep inside")

    dispatcher = Dispatcher(runtime, operations={**OPERATIONS,
                                                 "ListContacts": Operation(broken, True)})
    try:
        response = call(dispatcher, "ListContacts", {})
    finally:
        runtime.close()
    assert response.status == 500
    body = orjson.loads(response.body)
    assert body == {"__type": "InternalServerException", "Message": "An internal error occurred."}
    assert "secret detail" in caplog.text          # in the log, not in the response
    assert botocore_parse("ListContacts", 500, header_map(response),
                          response.body)["Error"]["Code"] == "InternalServerException"


def test_a_record_sealed_with_another_key_is_data_encryption_400(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'contacts.db'}"

    def runtime_with_new_key() -> Any:
        key = base64.b64encode(os.urandom(32)).decode()
        return build_runtime(Settings(database=database, data_key=key, throttle_rate=0),
                             ManualClock())

    first = runtime_with_new_key()
    try:
        dispatcher = Dispatcher(first)
        contact = ok(dispatcher, "CreateContact",
                     {"Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}})
        channel = ok(dispatcher, "CreateContactChannel", {
            "ContactId": contact["ContactArn"], "Name": "mail", "Type": "EMAIL",
            "DeliveryAddress": {"SimpleAddress": "akua@example.com"}, "DeferActivation": True,
        })["ContactChannelArn"]
    finally:
        first.close()
    second = runtime_with_new_key()
    try:
        response = call(Dispatcher(second), "GetContactChannel", {"ContactChannelId": channel})
    finally:
        second.close()
    parsed = check_response("GetContactChannel", response)
    assert (response.status, parsed["Error"]["Code"]) == (400, "DataEncryptionException")


# -- one test per kind of constraint ----------------------------------------------------------


def test_required(raw: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        raw.create_contact(Alias="akua", Plan={"Stages": []})
    assert _one_field(excinfo) == ("Type", "Member must not be null")


def test_required_nested(raw: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        raw.create_contact(Alias="akua", Type="ESCALATION", Plan={"Stages": [
            {"DurationInMinutes": 5, "Targets": []},
            {"Targets": [{"ContactTargetInfo": {"ContactId": "arn:aws:ssm-contacts:"
                                                 "us-east-1:000000000000:contact/kofi"}}]},
        ]})
    assert _fields(excinfo) == [
        ("Plan.Stages[1].DurationInMinutes", "Member must not be null"),
        ("Plan.Stages[1].Targets[0].ContactTargetInfo.IsEssential", "Member must not be null"),
    ]
    assert excinfo.value.response["Error"]["Message"].startswith("2 validation errors detected: ")


def test_type(raw: Any, client: Any) -> None:
    arn = _contact(client)
    with pytest.raises(ClientError) as excinfo:
        raw.update_contact(ContactId=arn, Plan={"Stages": [
            {"DurationInMinutes": "five", "Targets": []}]})
    assert _one_field(excinfo) == ("Plan.Stages[0].DurationInMinutes",
                                   "Member must be an integer")
    with pytest.raises(ClientError) as excinfo:
        raw.create_contact_channel(ContactId=arn, Name="mail", Type="EMAIL",
                                   DeliveryAddress={"SimpleAddress": "akua@example.com"},
                                   DeferActivation="yes")
    assert _one_field(excinfo) == ("DeferActivation", "Member must be a boolean")
    with pytest.raises(ClientError) as excinfo:
        raw.list_contacts(AliasPrefix=5)
    assert _one_field(excinfo) == ("AliasPrefix", "Member must be a string")


def test_length_min(raw: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        raw.create_contact(Alias="", Type="PERSONAL", Plan={"Stages": []})
    name, message = _one_field(excinfo)
    assert name == "Alias"
    assert message == ("Value '' at 'Alias' failed to satisfy constraint: Member must have "
                       "length greater than or equal to 1 and less than or equal to 255")


def test_length_max(client: Any) -> None:
    # botocore checks no maximum: the default client sends it, the server refuses it.
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="a" * 256, Type="PERSONAL", Plan={"Stages": []})
    assert _one_field(excinfo)[0] == "Alias"
    arn = _contact(client)
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "sre"},
                                                   {"Key": "notes", "Value": "n" * 257}])
    name, message = _one_field(excinfo)
    assert name == "Tags[1].Value"
    assert "less than or equal to 256" in message


def test_value_range(client: Any, raw: Any) -> None:
    channel = "arn:aws:ssm-contacts:us-east-1:000000000000:contact-channel/akua/" \
              "0b5a3e2a-4c1c-4f3e-9a59-1f3e0c2d8b11"
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="oncall", Type="ESCALATION", Plan={"Stages": [
            {"DurationInMinutes": 31, "Targets": []},
            {"DurationInMinutes": 0, "Targets": [
                {"ChannelTargetInfo": {"ContactChannelId": channel,
                                       "RetryIntervalInMinutes": 61}}]},
        ]})
    assert _fields(excinfo) == [
        ("Plan.Stages[0].DurationInMinutes",
         "Value '31' at 'Plan.Stages[0].DurationInMinutes' failed to satisfy constraint: "
         "Member must have value less than or equal to 30"),
        ("Plan.Stages[1].Targets[0].ChannelTargetInfo.RetryIntervalInMinutes",
         "Value '61' at 'Plan.Stages[1].Targets[0].ChannelTargetInfo.RetryIntervalInMinutes' "
         "failed to satisfy constraint: Member must have value less than or equal to 60"),
    ]
    with pytest.raises(ClientError) as excinfo:
        raw.list_contacts(MaxResults=-1)
    assert _one_field(excinfo) == (
        "MaxResults", "Value '-1' at 'MaxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0")


def test_pattern(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="Akua Mensah", Type="PERSONAL", Plan={"Stages": []})
    name, message = _one_field(excinfo)
    assert name == "Alias"
    assert message.startswith("Value 'Akua Mensah' at 'Alias' failed to satisfy constraint: "
                              "Member must satisfy regular expression pattern: ")


def test_unicode_letter_patterns(client: Any, recorder: Recorder) -> None:
    """``\\p{L}``, ``\\p{Z}`` and ``\\p{N}`` classes take letters of every script."""
    arn = _contact(client, DisplayName="Zoë Ångström-Øre ٣ 李")
    assert client.get_contact(ContactId=arn)["DisplayName"] == "Zoë Ångström-Øre ٣ 李"
    with pytest.raises(ClientError) as excinfo:
        client.update_contact(ContactId=arn, DisplayName="Akua!")
    assert _one_field(excinfo)[0] == "DisplayName"

    channel = client.create_contact_channel(
        ContactId=arn, Name="Łódź pager", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "zoe@example.com"}, DeferActivation=True,
    )["ContactChannelArn"]
    assert client.get_contact_channel(ContactChannelId=channel)["Name"] == "Łódź pager"
    with pytest.raises(ClientError) as excinfo:
        client.update_contact_channel(ContactChannelId=channel, Name="pager@home")
    assert _one_field(excinfo)[0] == "Name"

    client.tag_resource(ResourceARN=arn, Tags=[{"Key": "city", "Value": "Zürich"}])
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(ResourceARN=arn, Tags=[{"Key": "mood", "Value": "café ☕"}])
    assert _one_field(excinfo)[0] == "Tags[0].Value"
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "city", "Value": "Zürich"}]


@pytest.mark.parametrize("given", [
    "arn:aws:ssm-contacts:us-east-1:000000000000:contact/a b",
    "xarn:aws:ssm-contacts:us-east-1:000000000000:contact/akua",
    pytest.param("arn:aws:ssm-contacts:us-east-1:000000000000:contact/akua\n",
                 id="trailing-newline"),
    pytest.param("arn:aws:ssm-contacts:us-east-1:000000000000:contact/\u00f1", id="non-ascii"),
])
def test_arn_pattern_is_anchored(client: Any, given: str) -> None:
    _contact(client)
    with pytest.raises(ClientError) as excinfo:
        client.get_contact(ContactId=given)
    name, message = _one_field(excinfo)
    assert name == "ContactId"
    assert "Member must satisfy regular expression pattern: ^arn:" in message


def test_enum(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.create_contact(Alias="akua", Type="SOMEONE", Plan={"Stages": []})
    assert _one_field(excinfo) == (
        "Type", "Value 'SOMEONE' at 'Type' failed to satisfy constraint: Member must satisfy "
        "enum value set: [PERSONAL, ESCALATION, ONCALL_SCHEDULE]")
    arn = _contact(client)
    with pytest.raises(ClientError) as excinfo:
        client.create_contact_channel(ContactId=arn, Name="pager", Type="PAGER",
                                      DeliveryAddress={"SimpleAddress": "+15005550199"})
    assert _one_field(excinfo)[0] == "Type"


def test_list_size(client: Any, raw: Any) -> None:
    arn = _contact(client)
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(ResourceARN=arn,
                            Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    name, message = _one_field(excinfo)
    assert name == "Tags"
    assert message == ("Value at 'Tags' failed to satisfy constraint: Member must have length "
                       "greater than or equal to 0 and less than or equal to 50")
    with pytest.raises(ClientError) as excinfo:
        client.untag_resource(ResourceARN=arn, TagKeys=[f"k{i}" for i in range(51)])
    assert _one_field(excinfo)[0] == "TagKeys"
    with pytest.raises(ClientError) as excinfo:
        raw.create_rotation(Name="weekdays", ContactIds=[], TimeZoneId="Europe/Berlin",
                            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1})
    assert _one_field(excinfo)[0] == "ContactIds"


def test_a_tag_needs_its_key_and_value(raw: Any, client: Any) -> None:
    """The model leaves both optional; the extras file requires them (found by the fuzzer:
    ``"Tags": [{}]`` answered 500)."""
    with pytest.raises(ClientError) as excinfo:
        raw.create_contact(Alias="akua", Type="PERSONAL", Plan={"Stages": []}, Tags=[{}])
    assert _fields(excinfo) == [("Tags[0].Key", "Member must not be null"),
                                ("Tags[0].Value", "Member must not be null")]
    arn = _contact(client)
    with pytest.raises(ClientError) as excinfo:
        raw.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "ops"}, {"Key": "x"}])
    assert _one_field(excinfo) == ("Tags[1].Value", "Member must not be null")
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == []


def test_a_null_list_item_is_named_by_its_index(raw: Any, client: Any) -> None:
    arn = _contact(client)
    with pytest.raises(ClientError) as excinfo:
        raw.untag_resource(ResourceARN=arn, TagKeys=["team", None])
    assert _one_field(excinfo) == ("TagKeys[1]", "Member must not be null")
