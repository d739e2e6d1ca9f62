"""Where forms go back to, and how a form's fields are read.

Going back
    A form carries the address of its page (``back``: :func:`_here`, with its resource,
    filters and list position, at most ``BACK_LIMIT`` characters), so after it is sent, or
    shown again, the page is where it was: the same page of an engagement's pages, the same
    filtered page of a list. Where a form or the sign-in page leads is only ever a page of
    :data:`PAGE_PATHS` (:func:`_local`), never another site nor a form's action; a ``back``
    that is not one leads to the page of the form's resource, else the overview.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request

from incident_contacts.api.bodies import UNREAD, read_at_most
from incident_contacts.console import forms
from incident_contacts.console.rotation_forms import rotation_page
from incident_contacts.service import arns

MAX_FORM = 16 * 1024
BACK_LIMIT = 4096               # characters of a form's "back" address (its list position)
PEEK = 16 * 1024                # bytes of a form read without a session, to find its "back"
PAGE_PATHS = frozenset({"/console/", "/console/contacts", "/console/contact",
                        "/console/engagements", "/console/engagement", "/console/rotations",
                        "/console/rotation", "/console/delivery"})
"""The console's pages (GET): the only places a form or a sign-in goes back to."""
PLACE = ("arn", "prefix", "incident", "name", "next", "prev", "before")
"""Query fields that say what a page shows: its resource, filters and list position."""
_QUERY = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*")


def _local(address: str, fallback: str = "/console/") -> str:
    """``address`` when it is a page of this console (a path of :data:`PAGE_PATHS`, with a
    query), else ``fallback``: where to go next is never another site, nor an address that
    only answers POST (a form's action, 405 to a browser sent there). A query of anything but
    URL characters is written again from its fields (what a page reads of it is the same)."""
    path, mark, query = address.partition("?")
    if path not in PAGE_PATHS:
        return fallback
    if not _QUERY.fullmatch(query):
        query = urlencode(parse_qsl(query, keep_blank_values=True))
    return path + (mark if query else "") + query


def _here(request: Request) -> str:
    """This page's address with what places it (:data:`PLACE`: its resource, filters, list
    position), for its forms to come back to; the oldest "Previous page" tokens are left out
    while it is longer than ``BACK_LIMIT``, so every form stays well within ``MAX_FORM``
    (and within what is read of a form sent after the session ended)."""
    fields = [(name, value) for name, value in request.query_params.multi_items()
              if name in PLACE]
    while True:
        query = urlencode(fields)
        address = request.url.path + ("?" + query if query else "")
        if len(address) <= BACK_LIMIT:
            return _local(address)
        at = next((at for at, (name, _) in enumerate(fields) if name == "prev"), None)
        if at is None:
            return _local(request.url.path)
        del fields[at]


def _resource_page(arn: str) -> str:
    """The page of the resource a form names (``arn``); the overview when it has none."""
    parsed = arns.parse(arn) if arn else None
    if parsed is None or not parsed.parts:
        return "/console/"
    if parsed.kind in ("contact", "contact-channel"):
        return forms.contact_page(arns.contact_arn(parsed.region, parsed.account,
                                                   parsed.parts[0]))
    if parsed.kind == "engagement":
        return forms.engagement_page(arn)
    if parsed.kind == "rotation":
        return rotation_page(arn)
    return "/console/"


async def _form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """A urlencoded form (the only kind these pages send), at most ``limit`` bytes."""
    body = await read_at_most(request, limit)
    if body is None:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _peek(request: Request, limit: int = PEEK) -> dict[str, str]:
    """The fields within the first ``limit`` bytes of a urlencoded form (a field cut short
    is left out); the rest of the body is never read. For a form sent without a session,
    whose ``back`` field comes before what may be large (a policy's text)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) >= limit:
            del body[max(body.rfind(b"&", 0, limit), 0):]
            request.scope[UNREAD] = True
            break
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


__all__ = ["BACK_LIMIT", "MAX_FORM", "PAGE_PATHS", "PEEK", "PLACE"]
