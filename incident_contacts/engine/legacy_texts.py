"""A one-time scrub of delivery addresses from the error texts older releases stored in plain.

Delivery addresses are personal data and are only ever stored sealed. The errors of a
delivery attempt are stored in plain: ``outbox.last_error``, ``delivery_attempts.detail`` and
the ``info`` of a page's ``ERROR`` receipt (its ReceiptInfo). Providers often repeat the
address in their errors (Twilio: ``The 'To' number +15005550199 is not a valid phone
number``; an SMTP server: ``recipient bob@example.com refused: 550 ...``), and releases
before 48f81bd stored those texts as they came; since then the delivery worker replaces the
address with ``<delivery address>`` before anything is stored (``engine.delivery.scrub``).

A migration cannot find those addresses (it holds no data key to open the row's own address
with), so this runs in the server's housekeeping instead, once per database: each text still
naming its own row's address (with or without a phone number's plus sign, in any case,
percent-encoded), or anything shaped like an email address or a phone number, has that part
replaced with ``<delivery address>``, the words new releases write; the rest of the provider's
text (status, code, reason) stays. Tables are walked in id order in batches, each a short
transaction, and each row is rewritten only if its text is still the one read, so servers keep
running meanwhile. When the walk is done a row in ``maintenance_done`` says so, and no server
sharing the database walks again; one killed half-way walks again from the start (a scrubbed
text is left as it is).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from incident_contacts import crypto
from incident_contacts.store.schema.core import channels
from incident_contacts.store.schema.delivery import delivery_attempts, outbox
from incident_contacts.store.schema.engagements import page_receipts, pages
from incident_contacts.store.schema.maintenance import maintenance_done

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

TASK = "scrub-addresses-from-error-texts"
"""The name of this task in ``maintenance_done``."""

PLACEHOLDER = "<delivery address>"
"""What stands for an address, as the delivery worker writes it since 48f81bd."""

BATCH = 500

RECEIPT_INFO_LENGTH = 2048
"""ReceiptInfo's longest (the model's): a receipt's info was stored cut to it."""

# At most 64 characters (RFC 5321's limit): unbounded, every start in a long run of word
# characters would scan to the run's end looking for "@", and a long text took time squared.
_LOCAL = r"[\w!#$%&*+/=?^`{|}~-][\w.!#$%&'*+/=?^`{|}~-]{0,63}"
_DOMAIN = r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*"
_SHAPES = re.compile(
    # an email address (a domain without a dot too: root@localhost)
    rf"{_LOCAL}@{_DOMAIN}"
    # a phone number with its plus sign, its digits perhaps spaced: +1 (500) 555-0199
    r"|(?<![\w+])\+\d(?:[ ().-]{0,2}\d){6,14}(?!\d)"
    # a phone number without it: 8 to 15 digits on their own (not an error code, not a port)
    r"|(?<!\w)\d{8,15}(?!\w)"
)


def scrub_text(text: str, addresses: Iterable[str | None] = ()) -> str:
    """``text`` without its row's own ``addresses`` (as given, without a phone number's plus,
    in any case, percent-encoded) and without anything shaped like an email address or a
    phone number, each replaced with :data:`PLACEHOLDER`."""
    for address in addresses:
        if not address:
            continue
        forms = {address, quote(address, safe="")}
        if address.startswith("+") and len(address) > 4:
            forms.add(address[1:])
        for form in sorted(forms, key=len, reverse=True):
            text = re.sub(re.escape(form), PLACEHOLDER, text, flags=re.IGNORECASE)
    return _SHAPES.sub(PLACEHOLDER, text)


def _opened(runtime: Runtime, sealed: str | None, aad: str) -> str | None:
    """The address a sealed value holds; None when there is none or no key opens it (the
    shapes are still scrubbed)."""
    if sealed is None:
        return None
    try:
        return runtime.keyring.open(sealed, aad=aad)
    except crypto.DecryptError:
        return None


def _outbox_address(runtime: Runtime, row: Row[Any]) -> list[str | None]:
    if row.message_id is None:
        return []
    return [_opened(runtime, row.address, f"outbox:{row.message_id}:address")]


def _receipt_addresses(runtime: Runtime, row: Row[Any]) -> list[str | None]:
    """The message's address and the page's channel's (either may be gone by now)."""
    channel = None if row.channel_id is None else _opened(
        runtime, row.channel_address, f"channels:{row.channel_id}:address")
    return [*_outbox_address(runtime, row), channel]


class _Walk:
    """One table's texts: the query of a batch after an id, the column, the row's addresses."""

    def __init__(self, name: str, table: sa.Table, column: sa.Column[Any],
                 query: Callable[[int, int], sa.Select[Any]],
                 addresses: Callable[[Runtime, Row[Any]], list[str | None]],
                 longest: int | None = None) -> None:
        self.name, self.table, self.column = name, table, column
        self.query, self.addresses = query, addresses
        self.longest = longest     # the wire's limit: the placeholder may be the longer


def _outbox_query(after: int, batch: int) -> sa.Select[Any]:
    return (sa.select(outbox.c.id, outbox.c.last_error.label("text"), outbox.c.message_id,
                      outbox.c.address)
            .where(outbox.c.id > after, outbox.c.last_error.is_not(None))
            .order_by(outbox.c.id).limit(batch))


def _attempts_query(after: int, batch: int) -> sa.Select[Any]:
    a = delivery_attempts.c
    # A SENT attempt's detail is the provider's message id; the others' is an error.
    return (sa.select(a.id, a.detail.label("text"), outbox.c.message_id, outbox.c.address)
            .select_from(delivery_attempts.outerjoin(outbox, outbox.c.id == a.message_pk))
            .where(a.id > after, a.detail.is_not(None), a.outcome != "SENT")
            .order_by(a.id).limit(batch))


def _receipts_query(after: int, batch: int) -> sa.Select[Any]:
    r = page_receipts.c
    return (sa.select(r.id, r.info.label("text"), outbox.c.message_id, outbox.c.address,
                      channels.c.channel_id, channels.c.address.label("channel_address"))
            .select_from(page_receipts
                         .outerjoin(outbox, outbox.c.message_id == r.message_id)
                         .outerjoin(pages, pages.c.id == r.page_pk)
                         .outerjoin(channels, channels.c.channel_id == pages.c.channel_id))
            .where(r.id > after, r.receipt_type == "ERROR", r.info.is_not(None))
            .order_by(r.id).limit(batch))


_WALKS = (
    _Walk("outbox.last_error", outbox, outbox.c.last_error, _outbox_query, _outbox_address),
    _Walk("delivery_attempts.detail", delivery_attempts, delivery_attempts.c.detail,
          _attempts_query, _outbox_address),
    _Walk("page_receipts.info", page_receipts, page_receipts.c.info, _receipts_query,
          _receipt_addresses, RECEIPT_INFO_LENGTH),
)


def _walk(runtime: Runtime, walk: _Walk, batch: int) -> int:
    """Scrub one table's texts; how many were rewritten."""
    changed, after = 0, 0
    while True:
        with runtime.store.transaction() as conn:
            rows = conn.execute(walk.query(after, batch)).all()
            for row in rows:
                text = scrub_text(row.text, walk.addresses(runtime, row))[:walk.longest]
                if text != row.text:
                    # Compare and swap: a text changed meanwhile is the new release's own.
                    changed += conn.execute(walk.table.update().where(
                        walk.table.c.id == row.id, walk.column == row.text,
                    ).values({walk.column.key: text})).rowcount or 0
        if len(rows) < batch:
            return changed
        after = rows[-1].id


def done(conn: Connection, task: str = TASK) -> bool:
    return conn.execute(sa.select(maintenance_done.c.name)
                        .where(maintenance_done.c.name == task)).first() is not None


def _mark_done(runtime: Runtime, task: str) -> None:
    insert = postgresql.insert if runtime.store.engine.dialect.name == "postgresql" \
        else sqlite.insert
    with runtime.store.transaction() as conn:
        conn.execute(insert(maintenance_done).values(name=task, done_at=runtime.clock.now())
                     .on_conflict_do_nothing(index_elements=["name"]))


def scrub_legacy_error_texts(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Scrub every stored error text once per database (see the module's documentation); how
    many texts were rewritten (0 once done)."""
    with runtime.store.transaction(write=False) as conn:
        if done(conn):
            return 0
    changed = 0
    for walk in _WALKS:
        count = _walk(runtime, walk, batch)
        if count:
            log.info("removed delivery addresses from %d error texts in %s", count, walk.name)
        changed += count
    _mark_done(runtime, TASK)
    return changed


__all__ = ["BATCH", "PLACEHOLDER", "TASK", "done", "scrub_legacy_error_texts", "scrub_text"]
