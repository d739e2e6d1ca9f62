"""Opaque pagination tokens for keyset paging.

A token carries the sort key of the last item returned, so the next page is a range scan
that costs the same however large the table. It is base64url text (the model's
``PaginationToken`` pattern allows it) signed with a keyed hash, so a garbled or forged token
is a ValidationException rather than a wrong page.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from incident_contacts.crypto import hashes_equal, keyed_hash
from incident_contacts.errors import ValidationException

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1024


def page_size(params: dict[str, Any], default: int = DEFAULT_PAGE_SIZE) -> int:
    """``MaxResults`` (0–1024 by the model); 0 or absent means the default."""
    value = params.get("MaxResults")
    return default if not value else min(int(value), MAX_PAGE_SIZE)


def encode(secret: bytes, scope: str, key: list[Any]) -> str:
    payload = orjson.dumps(key)
    mac = keyed_hash(secret, scope, payload.decode("utf-8"))[:32]
    return base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=") + "-" + mac


def decode(secret: bytes, scope: str, token: str | None) -> list[Any] | None:
    """The key a token carries; None for no token. ``scope`` binds it to one listing."""
    if token is None:
        return None
    body, _, mac = token.rpartition("-")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        expected = keyed_hash(secret, scope, payload.decode("utf-8"))[:32]
        if hashes_equal(expected, mac):
            key = orjson.loads(payload)
            if isinstance(key, list):
                return key
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise invalid_token()


def invalid_token() -> ValidationException:
    """The refusal of a token that is not the listing's own."""
    return ValidationException.field("NextToken", "The pagination token is not valid.")


def by_id(ctx: Any, query: Any, id_column: Any, scope: str,
          params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of ``query`` in the order of its rows' ids, keyset-paged on the id: the rows
    and the token of the next page (None on the last). ``scope`` binds tokens to the listing."""
    limit = page_size(params)
    secret = ctx.runtime.secret("pagination")
    after = decode(secret, scope, params.get("NextToken"))
    if after:
        query = query.where(id_column > int(after[0]))
    rows = list(ctx.conn.execute(query.order_by(id_column).limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode(secret, scope, [rows[limit - 1].id])


__all__ = ["DEFAULT_PAGE_SIZE", "by_id", "decode", "encode", "invalid_token", "page_size"]
