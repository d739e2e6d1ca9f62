"""Pages and what happened to them: ListPagesByContact, ListPagesByEngagement, DescribePage,
ListPageReceipts, ListPageResolutions, AcceptPage (spec §6.3).

A page is one engagement of one contact channel. Its accept code is 6 digits, stored only as
a keyed hash (HMAC-SHA256 under the server's ``accept-codes`` secret, bound to the page);
the plaintext exists only in the outgoing message. Receipts record the page's life: SENT
(the provider's message id), DELIVERED and READ (AcceptPage), ERROR (a delivery that failed,
with the reason) and STOP (the engagement stopped before the page was read).
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.crypto import hashes_equal, keyed_hash
from incident_contacts.engine import planner
from incident_contacts.errors import ResourceNotFoundException, ValidationException
from incident_contacts.ids import new_id
from incident_contacts.service import arns, pagination
from incident_contacts.service.context import RequestContext
from incident_contacts.service.engagements import (
    contact_arn,
    engagement_arn,
    find_engagement,
    locked,
    open_texts,
    record_event,
)
from incident_contacts.service.lookup import at_home, find_contact, parse_arn
from incident_contacts.service.outbox import cancel_statement
from incident_contacts.store.prepared import insert_of
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import (
    engagement_tracks,
    engagements,
    page_receipts,
    pages,
)

# Built once, run with parameters: a statement's construction costs more than running it on
# SQLite, and receipts are written for every page sent.
_INSERT_RECEIPT = insert_of(page_receipts, "receipt_id", "page_pk", "receipt_type",
                            "channel_arn", "info", "note", "receipt_time", "message_id")
_PAGE_BY_ARN = sa.select(pages).where(
    pages.c.page_id == sa.bindparam("page_id"),
    pages.c.account == sa.bindparam("account"),
    pages.c.region == sa.bindparam("region"),
    pages.c.contact_alias == sa.bindparam("alias"),
)
_PAGE_BY_PK = sa.select(pages).where(pages.c.id == sa.bindparam("page_pk"))
_ENGAGEMENT_BY_PK = sa.select(engagements).where(
    engagements.c.id == sa.bindparam("engagement_pk"))
_MARK = {
    column.key: pages.update().where(pages.c.id == sa.bindparam("page_pk"), column.is_(None))
    .values({column.key: sa.bindparam("at")})
    for column in (pages.c.delivery_time, pages.c.read_time)
}
_OPEN_TRACKS = sa.select(engagement_tracks.c.id, engagement_tracks.c.essential).where(
    engagement_tracks.c.engagement_pk == sa.bindparam("engagement_pk"),
    engagement_tracks.c.person_alias == sa.bindparam("alias"),
    engagement_tracks.c.stopped_at.is_(None),
)
_OWN_TRACK = sa.select(engagement_tracks.c.essential, engagement_tracks.c.path).where(
    engagement_tracks.c.id == sa.bindparam("track_pk"))
_STOP_TRACKS = engagement_tracks.update().where(
    engagement_tracks.c.id.in_(sa.bindparam("track_pks", expanding=True)),
    engagement_tracks.c.stopped_at.is_(None),
).values(stopped_at=sa.bindparam("at"), stop_reason="ACKNOWLEDGED")
_PERSONS_PAGES = sa.select(pages).where(
    pages.c.engagement_pk == sa.bindparam("engagement_pk"),
    pages.c.contact_alias == sa.bindparam("alias"),
)
# Pages whose person acknowledged, or whose engagement stopped, are not sent after it.
_CANCEL_PENDING = cancel_statement(outbox.c.channel_arn == sa.bindparam("channel_arn"),
                                   outbox.c.page_arn == sa.bindparam("page_arn"))
_STOP_ESCALATION = engagements.update().where(
    engagements.c.id == sa.bindparam("engagement_pk")
).values(escalation_stopped_at=sa.bindparam("at"))


def page_arn(row: Any) -> str:
    return arns.build(row.region, row.account, "page", row.contact_alias, row.page_id)


def channel_arn_of(page: Any) -> str:
    return arns.channel_arn(page.region, page.account, page.contact_alias, page.channel_id)


def accept_code_hash(runtime: Any, page_id: str, code: str) -> str:
    return keyed_hash(runtime.secret("accept-codes"), page_id, code)


def _note_aad(receipt_id: str) -> str:
    return f"page_receipts:{receipt_id}:note"


def add_receipt(conn: Connection, runtime: Any, page: Any, receipt_type: str, *,
                channel_arn: str | None, at: float, info: str | None = None,
                note: str | None = None, message_id: str | None = None) -> None:
    """``info`` is what a provider said (a message id, a failure), kept as the outbox keeps
    it; ``note`` is what a person wrote or the code they gave, sealed at rest."""
    receipt_id = new_id()
    _INSERT_RECEIPT.execute(conn, {
        "receipt_id": receipt_id, "page_pk": page.id, "receipt_type": receipt_type,
        "channel_arn": channel_arn,
        "info": None if info is None else info[:2048] or None,   # ReceiptInfo: 1-2048 chars
        "note": None if note is None
        else runtime.keyring.seal(note, aad=_note_aad(receipt_id)),
        "receipt_time": at, "message_id": message_id,
    })


def find_page(ctx: RequestContext, given: str, *, member: str = "PageId") -> Row[Any]:
    arn = parse_arn(given, "page", member)
    row = None
    if len(arn.parts) == 2 and at_home(ctx, arn):
        row = ctx.conn.execute(_PAGE_BY_ARN, {
            "page_id": arn.parts[1], "account": arn.account, "region": arn.region,
            "alias": arn.parts[0],
        }).first()
    if row is None:
        raise _page_not_found(given)
    return row


def _page_not_found(given: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"Page {given} was not found.", resource_id=given, resource_type="PAGE"
    )


def _item(page: Any, engagement: Any) -> dict[str, Any]:
    return {
        "PageArn": page_arn(page),
        "EngagementArn": engagement_arn(engagement),
        "ContactArn": arns.contact_arn(page.region, page.account, page.contact_alias),
        "Sender": engagement.sender,
        "IncidentId": engagement.incident_id,
        "SentTime": page.sent_time,
        "DeliveryTime": page.delivery_time,
        "ReadTime": page.read_time,
    }


_ENGAGEMENT_COLUMNS = (
    engagements.c.engagement_id.label("e_engagement_id"),
    engagements.c.contact_alias.label("e_contact_alias"),
    engagements.c.account.label("e_account"),
    engagements.c.region.label("e_region"),
    engagements.c.sender.label("e_sender"),
    engagements.c.incident_id.label("e_incident_id"),
)


class _Engagement:
    """The engagement columns of a joined page row, under their own names."""

    def __init__(self, row: Any) -> None:
        self.engagement_id = row.e_engagement_id
        self.contact_alias = row.e_contact_alias
        self.account = row.e_account
        self.region = row.e_region
        self.sender = row.e_sender
        self.incident_id = row.e_incident_id


def _list_pages(ctx: RequestContext, params: dict[str, Any], scope: str,
                condition: Any) -> dict[str, Any]:
    """Pages in the order they were made (keyset-paged on the page's row id)."""
    query = (
        sa.select(pages, *_ENGAGEMENT_COLUMNS)
        .join(engagements, engagements.c.id == pages.c.engagement_pk)
        .where(condition)
    )
    rows, token = pagination.by_id(ctx, query, pages.c.id, scope, params)
    return {"Pages": [_item(r, _Engagement(r)) for r in rows], "NextToken": token}


def list_pages_by_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The pages sent to a PERSONAL contact's channels, oldest first."""
    contact = find_contact(ctx, params["ContactId"])
    condition = sa.and_(pages.c.account == contact.account, pages.c.region == contact.region,
                        pages.c.contact_alias == contact.alias)
    return _list_pages(ctx, params, f"ListPagesByContact:{contact.id}", condition)


def list_pages_by_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The pages an engagement sent so far, oldest first."""
    engagement = find_engagement(ctx, params["EngagementId"])
    return _list_pages(ctx, params, f"ListPagesByEngagement:{engagement.id}",
                       pages.c.engagement_pk == engagement.id)


def _engagement_of(ctx: RequestContext, page: Any) -> Row[Any]:
    return ctx.conn.execute(_ENGAGEMENT_BY_PK, {"engagement_pk": page.engagement_pk}).one()


def describe_page(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page = find_page(ctx, params["PageId"])
    engagement = _engagement_of(ctx, page)
    return {**_item(page, engagement), **open_texts(ctx.runtime, engagement)}


def list_page_receipts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Receipts in the order they happened."""
    page = find_page(ctx, params["PageId"])
    rows, token = pagination.by_id(
        ctx, sa.select(page_receipts).where(page_receipts.c.page_pk == page.id),
        page_receipts.c.id, f"ListPageReceipts:{page.id}", params)
    receipts = []
    for row in rows:
        info = row.info
        if row.note is not None:
            info = ctx.runtime.open_record(row.note, aad=_note_aad(row.receipt_id))
        receipts.append({
            "ContactChannelArn": row.channel_arn,
            "ReceiptType": row.receipt_type,
            "ReceiptInfo": info or None,
            "ReceiptTime": row.receipt_time,
        })
    return {"Receipts": receipts, "NextToken": token}


def list_page_resolutions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The path from the engaged contact down to the person paged (decisions §5); one list,
    never paged (the model has no MaxResults for it). So no token is ever minted for it, and
    any ``NextToken`` is refused as other listings refuse a token not theirs."""
    if params.get("NextToken") is not None:
        raise pagination.invalid_token()
    page = find_page(ctx, params["PageId"])
    path = ctx.conn.execute(
        sa.select(engagement_tracks.c.path).where(engagement_tracks.c.id == page.track_pk)
    ).scalar_one()
    return {"PageResolutions": orjson.loads(path)}


def accept_page(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """DELIVERED records that the page arrived; READ acknowledges it (spec §6.3).

    ``AcceptCodeValidation`` defaults to IGNORE (any code is taken); under ENFORCE a code
    other than the page's is a ValidationException and changes nothing. ``ContactChannelId``,
    when given, must be the ARN of the channel the page went to (the whole ARN: the receipt
    records it). The receipt's info is the ``Note``, or else the code given (as in AWS's
    example).
    """
    page = find_page(ctx, params["PageId"])
    given_channel = params.get("ContactChannelId")
    if given_channel is not None:
        parse_arn(given_channel, "contact-channel", "ContactChannelId")
        if given_channel != channel_arn_of(page):
            raise ValidationException.field(
                "ContactChannelId", f"Page {params['PageId']} was not sent to {given_channel}."
            )
    code = params["AcceptCode"]
    if (params.get("AcceptCodeValidation") or "IGNORE") == "ENFORCE" and not hashes_equal(
            accept_code_hash(ctx.runtime, page.page_id, code), page.accept_code_hash):
        raise ValidationException.field("AcceptCode", "The accept code is not this page's.")
    engagement = locked(ctx.conn, page.engagement_pk)
    fresh = None if engagement is None else \
        ctx.conn.execute(_PAGE_BY_PK, {"page_pk": page.id}).one_or_none()
    if fresh is None:
        # Deleted by history retention (housekeeping) since the page was found.
        raise _page_not_found(params["PageId"])
    accept(ctx.conn, ctx.runtime, engagement, fresh, params["AcceptType"], at=ctx.now(),
           channel_arn=given_channel or channel_arn_of(fresh), note=params.get("Note") or code)
    return {}


def accept(conn: Connection, runtime: Any, engagement: Any, page: Any, accept_type: str, *,
           at: float, channel_arn: str, note: str | None = None,
           info: str | None = None) -> None:
    """Record a DELIVERED or READ of ``page``; a READ acknowledges. The caller holds the
    engagement's lock (:func:`~incident_contacts.service.engagements.locked`). ``note`` is
    what the person gave (sealed), ``info`` what the system says (e.g. how it was read)."""
    column = "delivery_time" if accept_type == "DELIVERED" else "read_time"
    if accept_type == "READ" and engagement.stop_time is None:
        # Before the page's row is written: the delivery worker recording a page's outcome
        # writes the message's row and then the page's, and this takes them in that order
        # too, so that the two wait for each other on PostgreSQL rather than deadlock.
        for own_page in conn.execute(_PERSONS_PAGES, {"engagement_pk": engagement.id,
                                                      "alias": page.contact_alias}).all():
            cancel_pending(conn, own_page,
                           "not sent: the person had acknowledged a page first", at)
    conn.execute(_MARK[column], {"page_pk": page.id, "at": at})
    add_receipt(conn, runtime, page, accept_type, channel_arn=channel_arn, at=at, note=note,
                info=info)
    if accept_type == "READ":
        acknowledge(conn, engagement, page, at)


def cancel_pending(conn: Connection, page: Any, reason: str, at: float) -> None:
    """The page's message, if it is still waiting for its provider (an outage being retried),
    is not sent: FAILED with ``reason``. Found by its channel (indexed), then its page.

    A message a worker has claimed may be in its provider's hands already: failing the row
    under the worker would record "not sent" for a page that went out, and drop its SENT
    receipt (the worker's outcome no longer settles the row). It is left to the worker, and
    expires at ``at``: a send that succeeds is recorded as sent; one that fails is not tried
    again (the worker fails it when it is next due)."""
    _CANCEL_PENDING.execute(conn, {"channel_arn": channel_arn_of(page),
                                   "page_arn": page_arn(page), "reason": reason, "at": at})


def acknowledge(conn: Connection, engagement: Any, page: Any, at: float) -> None:
    """A READ: the rest of the person's plan stops (their pages still waiting for a provider
    were cancelled by :func:`accept` first); an essential contact's READ stops the escalation
    (no further stage starts). Nothing changes once the engagement stopped."""
    if engagement.stop_time is not None:
        return
    tracks = conn.execute(_OPEN_TRACKS, {"engagement_pk": engagement.id,
                                          "alias": page.contact_alias}).all()
    own = conn.execute(_OWN_TRACK, {"track_pk": page.track_pk}).one()
    decision = planner.acknowledge(
        [planner.OpenTrack(t.id, bool(t.essential)) for t in tracks],
        escalation_running=engagement.contact_type == "ESCALATION"
        and engagement.escalation_stopped_at is None,
        page_track_essential=bool(own.essential),
    )
    if decision.stop_tracks:
        conn.execute(_STOP_TRACKS, {"track_pks": list(decision.stop_tracks), "at": at})
    record_event(conn, engagement.id, at, "ACKNOWLEDGED", PageArn=page_arn(page),
                 Resolution=orjson.loads(own.path), StoppedPlans=len(decision.stop_tracks))
    if decision.stop_escalation:
        conn.execute(_STOP_ESCALATION, {"engagement_pk": engagement.id, "at": at})
        record_event(conn, engagement.id, at, "ESCALATION_STOPPED", PageArn=page_arn(page),
                     ContactArn=contact_arn(engagement))


__all__ = [
    "accept",
    "accept_code_hash",
    "accept_page",
    "acknowledge",
    "add_receipt",
    "cancel_pending",
    "channel_arn_of",
    "describe_page",
    "find_page",
    "list_page_receipts",
    "list_page_resolutions",
    "list_pages_by_contact",
    "list_pages_by_engagement",
    "page_arn",
]
