"""Reading a request body that nothing vouches for yet, within a bound."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["UNREAD", "declares_more_than", "read_at_most"]

UNREAD = "incident_contacts.unread_body"
"""Scope key set when a request's body was left unread past a bound: the application then
answers with ``Connection: close`` (``api.app``), so the server does not go on reading and
dropping the rest of the body to keep the connection for another request."""


def declares_more_than(length: str, limit: int) -> bool:
    """Whether a ``Content-Length`` value says the body is longer than ``limit`` bytes (a value
    that is not a number says nothing: the body itself is measured)."""
    digits = length.strip().lstrip("0")
    return digits.isascii() and digits.isdigit() and (
        len(digits) > len(str(limit)) or int(digits) > limit)


async def read_at_most(request: Request, limit: int) -> bytes | None:
    """The body of ``request``; None as soon as it proves longer than ``limit`` bytes, the
    rest left unread (a client may send any length before anything about it is checked).
    A ``Content-Length`` over the bound is refused before any of the body is asked for (so
    a client waiting for "100 Continue" never sends it)."""
    length = request.headers.get("content-length")
    if length is not None and declares_more_than(length, limit):
        request.scope[UNREAD] = True
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            request.scope[UNREAD] = True
            return None
    return bytes(body)
