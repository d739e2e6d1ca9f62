"""Reading a request body that nothing vouches for yet, within a bound."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["read_at_most"]


async def read_at_most(request: Request, limit: int) -> bytes | None:
    """The body of ``request``; None as soon as it proves longer than ``limit`` bytes, the
    rest left unread (a client may send any length before anything about it is checked)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
