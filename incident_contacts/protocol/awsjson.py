"""AWS JSON 1.1 on the wire: targets, bodies, and the one place errors take their wire form.

Requests are ``POST /`` with ``X-Amz-Target: SSMContacts.<Operation>`` and a JSON object body.
Every response carries ``Content-Type: application/x-amz-json-1.1`` and ``x-amzn-RequestId``.
Errors are ``{"__type": "<Code>", "Message": ..., <every other member at top level>}`` with
``x-amzn-ErrorType`` (decisions §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from incident_contacts import model
from incident_contacts.errors import ServiceError, ValidationException

CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def operation_of(headers: Mapping[str, str], known: Mapping[str, Any]) -> str:
    """The operation a request names, or ValidationException ``UNKNOWN_OPERATION``."""
    target = headers.get("x-amz-target", "")
    prefix, _, name = target.partition(".")
    if prefix != model.target_prefix() or name not in known:
        shown = target or "(none)"
        raise ValidationException(
            f"The operation {shown} is not known to this service.", reason="UNKNOWN_OPERATION"
        )
    return name


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or ValidationException ``CANNOT_PARSE``.

    An empty body is read as ``{}``, as AWS JSON services read it.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        if not body.strip():    # empty, or only spaces: not JSON, but read as {}
            return {}
        raise ValidationException(
            "The request body could not be parsed as JSON.", reason="CANNOT_PARSE"
        ) from None
    if not isinstance(value, dict):
        raise ValidationException(
            "The request body must be a JSON object.", reason="CANNOT_PARSE"
        )
    if None in value.values():
        # A member sent as null is a member not sent, as AWS reads it (SDKs never send null).
        value = {name: member for name, member in value.items() if member is not None}
    return value


REQUEST_ID_HEADER = "x-amzn-requestid"


_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE)


def _headers(request_id: str) -> list[tuple[str, str]]:
    return [_CONTENT_TYPE_HEADER, (REQUEST_ID_HEADER, request_id)]


def success(request_id: str, payload: dict[str, Any]) -> HttpResponse:
    return HttpResponse(200, orjson.dumps(payload),
                        [_CONTENT_TYPE_HEADER, (REQUEST_ID_HEADER, request_id)])


def answer(request_id: str, body: bytes) -> HttpResponse:
    """A success whose body is already encoded."""
    return HttpResponse(200, body, [_CONTENT_TYPE_HEADER, (REQUEST_ID_HEADER, request_id)])


def error(request_id: str, exc: ServiceError) -> HttpResponse:
    headers = _headers(request_id)
    headers.append(("x-amzn-errortype", exc.code))
    headers.extend((k.lower(), v) for k, v in exc.headers().items())
    return HttpResponse(exc.status, orjson.dumps(exc.body()), headers)


__all__ = [
    "CONTENT_TYPE", "REQUEST_ID_HEADER", "HttpResponse", "answer", "error", "operation_of",
    "parse_body", "success",
]
