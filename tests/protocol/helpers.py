"""What the protocol tests share: an in-process dispatcher, raw requests, and botocore's reading
of a response (the same parser and the same second pass for modeled error members that a
boto3 client runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

from incident_contacts import model
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.protocol.awsjson import CONTENT_TYPE, HttpResponse
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime

ACCOUNT = "123456789012"
REGION = "us-east-1"
AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20240101/{REGION}/ssm-contacts/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)
# The Smithy model's httpError traits, as decisions §2 lists them.
ERROR_STATUS = {
    "AccessDeniedException": 403,
    "ConflictException": 409,
    "DataEncryptionException": 400,
    "InternalServerException": 500,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "ValidationException": 400,
}


def new_runtime() -> Runtime:
    """A service on a fresh in-memory database, with throttling off and a clock that stands
    still (the fuzzers send thousands of requests in no time)."""
    return build_runtime(Settings(database="sqlite://", throttle_rate=0), ManualClock())


def dispatcher_for(runtime: Runtime) -> Dispatcher:
    """The server's pipeline (``server.build_dispatcher``), guards and all."""
    return build_dispatcher(runtime)


def headers_for(operation: str | None) -> dict[str, str]:
    headers = {"content-type": CONTENT_TYPE, "authorization": AUTHORIZATION}
    if operation is not None:
        headers["x-amz-target"] = f"{model.target_prefix()}.{operation}"
    return headers


def call(dispatcher: Dispatcher, operation: str | None, body: bytes | dict[str, Any]
         ) -> HttpResponse:
    raw = orjson.dumps(body) if isinstance(body, dict) else body
    return dispatcher.handle("POST", "/", headers_for(operation), raw)


def ok(dispatcher: Dispatcher, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call an operation that must succeed and return its decoded output."""
    response = call(dispatcher, operation, body)
    assert response.status == 200, (operation, response.status, response.body)
    result: dict[str, Any] = orjson.loads(response.body)
    return result


def header_map(response: HttpResponse) -> dict[str, str]:
    names = [name for name, _ in response.headers]
    assert len(names) == len(set(names)), f"a header is repeated: {names}"
    return dict(response.headers)


def botocore_parse(operation: str, status: int, headers: dict[str, str],
                   body: bytes) -> dict[str, Any]:
    """The response as a boto3 client would hand it over (``Error`` plus modeled members
    for an error)."""
    operation_model = model.operation_model(operation)
    parser = create_parser("json")
    response = {
        "status_code": status,
        "headers": HeadersDict(headers),
        "body": body,
        "context": {"operation_name": operation},
    }
    parsed: dict[str, Any] = parser.parse(response, operation_model.output_shape)
    if status >= 300:
        code = parsed.get("Error", {}).get("Code")
        shape = model.service_model().shape_for_error_code(code) if code else None
        if shape is not None:
            parsed.update(parser.parse(response, shape))
    return parsed


def nulls(value: Any, path: str = "") -> Iterator[str]:
    """Paths of every ``null`` in a decoded JSON value."""
    if value is None:
        yield path or "(body)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nulls(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nulls(item, f"{path}[{index}]")


def missing_required(shape: Any, value: Any, path: str = "") -> Iterator[str]:
    """Paths of required output members that a response leaves out."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if name not in value:
                yield f"{path}.{name}" if path else name
        for name, member in shape.members.items():
            if name in value:
                yield from missing_required(member, value[name],
                                            f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from missing_required(shape.member, item, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from missing_required(shape.value, item, f"{path}.{key}")


def check_response(operation: str, response: HttpResponse, *,
                   server_error: bool = False) -> dict[str, Any]:
    """Everything every response must be; returns botocore's reading of it. A 5xx fails
    unless ``server_error`` says that one is expected."""
    assert server_error or response.status < 500, (operation, response.status,
                                                   response.body[:500])
    headers = header_map(response)
    assert headers.get("content-type") == CONTENT_TYPE, headers
    assert headers.get("x-amzn-requestid"), headers
    decoded = orjson.loads(response.body)
    assert isinstance(decoded, dict), response.body[:200]
    assert not list(nulls(decoded)), (operation, list(nulls(decoded)))
    parsed = botocore_parse(operation, response.status, headers, response.body)
    if response.status >= 300:
        code = decoded.get("__type")
        assert isinstance(code, str) and code, decoded
        assert headers.get("x-amzn-errortype") == code, (headers, decoded)
        assert parsed["Error"]["Code"] == code, parsed
        assert isinstance(decoded.get("Message"), str), decoded
        if code in ERROR_STATUS:
            assert ERROR_STATUS[code] == response.status, (code, response.status)
        if code == "ValidationException" and decoded.get("Reason") == "FIELD_VALIDATION_FAILED":
            fields = parsed.get("Fields")
            assert fields, decoded
            assert all(f.get("Name") and f.get("Message") for f in fields), fields
    else:
        assert response.status == 200, response.status
        output = model.operation_model(operation).output_shape
        if output is not None:
            assert not list(missing_required(output, decoded)), (
                operation, list(missing_required(output, decoded)))
    return parsed
