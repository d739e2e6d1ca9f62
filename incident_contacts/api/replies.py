"""Acknowledging a page from the phone, whichever provider carried the answer: an SMS reply
that holds a page's accept code (Twilio's messaging webhook, or End User Messaging's two-way
SMS through an SNS topic), or a key pressed during a call (Twilio).

A reply counts only from the number of an SMS channel, and only for that channel's own unread
pages: the code of someone else's page, sent from another phone, acknowledges nothing. The
acknowledgement is AcceptPage READ's (``service.pages.accept``), recorded with the code the
person sent as the receipt's information.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from incident_contacts.crypto import hashes_equal
from incident_contacts.runtime import Runtime
from incident_contacts.service.engagements import locked
from incident_contacts.service.pages import accept, accept_code_hash, channel_arn_of
from incident_contacts.store.schema.core import channels, contacts
from incident_contacts.store.schema.engagements import pages

__all__ = ["MAX_CODES", "RECENT_PAGES", "acknowledge_sms", "codes_in", "read"]

_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
RECENT_PAGES = 50
"""How many of a number's latest unread pages an SMS reply is matched against."""
MAX_CODES = 3
"""How many codes of one reply are tried: a person sends one. Without a bound, one SMS from
a spoofed sender would guess hundreds of codes against each of ``RECENT_PAGES`` pages (and an
SNS message of 256 KiB tens of thousands, each a keyed hash per page, in a write
transaction)."""


def codes_in(text: str) -> list[str]:
    """The first ``MAX_CODES`` distinct 6-digit runs of ``text`` (a code inside a longer
    number does not count)."""
    codes: list[str] = []
    for match in _CODE.finditer(text):
        if match[0] not in codes:
            codes.append(match[0])
            if len(codes) == MAX_CODES:
                break
    return codes


def acknowledge_sms(runtime: Runtime, sender: str, codes: list[str]) -> bool:
    """Mark READ the unread page of an SMS channel at ``sender`` whose accept code is one of
    ``codes``; False when there is none (or its engagement was deleted meanwhile)."""
    index = runtime.blind_index("channel-address", sender)
    with runtime.store.transaction() as conn:
        numbers = conn.execute(
            sa.select(channels.c.channel_id, channels.c.account, channels.c.region,
                      contacts.c.alias)
            .join(contacts, contacts.c.id == channels.c.contact_pk)
            .where(channels.c.address_index == index, channels.c.type == "SMS")
        ).all()
        for number in numbers:
            candidates = conn.execute(
                sa.select(pages).where(
                    pages.c.account == number.account, pages.c.region == number.region,
                    pages.c.contact_alias == number.alias,
                    pages.c.channel_id == number.channel_id,
                    pages.c.read_time.is_(None),
                ).order_by(pages.c.id.desc()).limit(RECENT_PAGES)
            ).all()
            for page in candidates:
                for code in codes:
                    if hashes_equal(accept_code_hash(runtime, page.page_id, code),
                                    page.accept_code_hash):
                        return read(runtime, conn, page, note=code, info=None)
    return False


def read(runtime: Runtime, conn: Any, page: Any, *, note: str | None,
         info: str | None) -> bool:
    """Acknowledge ``page`` unless that happened meanwhile; False when its engagement is
    gone (deleted by history retention since the page was found)."""
    engagement = locked(conn, page.engagement_pk)
    # Read again under the lock: an AcceptPage or another reply may have come first.
    fresh = None if engagement is None else \
        conn.execute(sa.select(pages).where(pages.c.id == page.id)).first()
    if fresh is None:
        return False
    if fresh.read_time is None:
        accept(conn, runtime, engagement, fresh, "READ", at=runtime.clock.now(),
               channel_arn=channel_arn_of(fresh), note=note, info=info)
    return True
