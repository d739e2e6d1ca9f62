"""StartEngagement, StopEngagement, DescribeEngagement, ListEngagements (spec §6.3).

An engagement is written with its first timer in the caller's transaction; the engine
(:mod:`incident_contacts.engine.runner`) resolves and pages from there, woken after commit.
Subject, Content, PublicSubject and PublicContent are personal data: sealed at rest, bound
to the engagement and column, and a record this server's keys cannot open is a
DataEncryptionException.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.engine import timers
from incident_contacts.errors import ResourceNotFoundException, ValidationException
from incident_contacts.ids import new_id
from incident_contacts.service import arns, pagination
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import at_home, find_contact, parse_arn
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.engagements import (
    engagement_events,
    engagement_tracks,
    engagements,
    pages,
)

TEXTS = {
    "Subject": "subject",
    "Content": "content",
    "PublicSubject": "public_subject",
    "PublicContent": "public_content",
}


# Built once, run with parameters: a statement's construction costs more than running it on
# SQLite, and these run for every engagement and every step of the engine.
_INSERT_EVENT = insert_of(engagement_events, "engagement_pk", "at", "kind", "detail")
_INSERT_ENGAGEMENT = insert_of(
    engagements, "engagement_id", "account", "region", "contact_alias", "contact_type", "plan",
    "sender", "incident_id", "start_time", "stop_reason", "stop_time", "escalation_stopped_at",
    *TEXTS.values(), returning_id=True)
_BY_PK_QUERY = sa.select(engagements).where(engagements.c.id == sa.bindparam("engagement_pk"))
_BY_PK = Prepared(_BY_PK_QUERY)
_BY_PK_LOCKED = Prepared(_BY_PK_QUERY.with_for_update(key_share=True))
_BY_ARN = Prepared(sa.select(engagements).where(
    engagements.c.engagement_id == sa.bindparam("engagement_id"),
    engagements.c.account == sa.bindparam("account"),
    engagements.c.region == sa.bindparam("region"),
    engagements.c.contact_alias == sa.bindparam("alias"),
))


def aad(engagement_id: str, column: str) -> str:
    return f"engagements:{engagement_id}:{column}"


def engagement_arn(row: Any) -> str:
    return arns.build(row.region, row.account, "engagement", row.contact_alias,
                      row.engagement_id)


def contact_arn(row: Any) -> str:
    return arns.contact_arn(row.region, row.account, row.contact_alias)


def open_texts(runtime: Any, row: Any) -> dict[str, str | None]:
    """The four words of an engagement by their model names; DataEncryptionException when
    they do not open."""
    return {
        name: None if getattr(row, column) is None
        else runtime.open_record(getattr(row, column), aad=aad(row.engagement_id, column))
        for name, column in TEXTS.items()
    }


def record_event(conn: Connection, engagement_pk: int, at: float, kind: str,
                 **detail: Any) -> None:
    """A line of the engagement's log (skipped channels, nobody on call, stops ...)."""
    _INSERT_EVENT.execute(conn, {
        "engagement_pk": engagement_pk, "at": at, "kind": kind,
        "detail": orjson.dumps({k: v for k, v in detail.items() if v is not None}).decode(),
    })


def locked(conn: Connection, engagement_pk: int) -> Any:
    """The engagement row, locked until the transaction ends (PostgreSQL; on SQLite the
    transaction's write lock covers it). Every writer of an engagement's state takes this
    lock first, so a stop, an acknowledgement and an engine step never interleave.

    ``FOR NO KEY UPDATE``: writers exclude each other, while rows that merely refer to the
    engagement (a new timer, a receipt) are still inserted without waiting."""
    query = _BY_PK_LOCKED if conn.dialect.name == "postgresql" else _BY_PK
    return query.first(conn, {"engagement_pk": engagement_pk})


def find_engagement(ctx: RequestContext, given: str, *, member: str = "EngagementId",
                    lock: bool = False) -> Any:
    arn = parse_arn(given, "engagement", member)
    row = None
    if len(arn.parts) == 2 and at_home(ctx, arn):
        row = _BY_ARN.first(ctx.conn, {
            "engagement_id": arn.parts[1], "account": arn.account, "region": arn.region,
            "alias": arn.parts[0],
        })
    if row is not None and lock:
        row = locked(ctx.conn, row.id)    # None if history retention deleted it meanwhile
    if row is None:
        raise ResourceNotFoundException(
            f"Engagement {given} was not found.", resource_id=given, resource_type="ENGAGEMENT"
        )
    return row


def start_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engages a PERSONAL contact (its engagement plan), an ESCALATION plan (its stages'
    contacts) or an ONCALL_SCHEDULE (whoever is on call). The ARN is
    ``engagement/<alias of ContactId>/<uuid>``; the plan is read now and kept with the
    engagement, so editing the contact later does not change an engagement under way."""
    contact = find_contact(ctx, params["ContactId"])
    engagement_id = new_id()
    keyring = ctx.runtime.keyring
    sealed = {
        column: None if params.get(name) is None
        else keyring.seal(params[name], aad=aad(engagement_id, column))
        for name, column in TEXTS.items()
    }
    now = ctx.now()
    engagement_pk = int(_INSERT_ENGAGEMENT.scalar(ctx.conn, {
        "engagement_id": engagement_id, "account": contact.account, "region": contact.region,
        "contact_alias": contact.alias, "contact_type": contact.type, "plan": contact.plan,
        "sender": params["Sender"], "incident_id": params.get("IncidentId"),
        "start_time": now, "stop_reason": None, "stop_time": None,
        "escalation_stopped_at": None, **sealed,
    }))
    timers.schedule(ctx.conn, key=f"engage:{engagement_pk}", kind=timers.ENGAGE, due_at=now,
                    engagement_pk=engagement_pk)
    ctx.after_commit.append(ctx.runtime.wake_engine)
    return {"EngagementArn": arns.build(contact.region, contact.account, "engagement",
                                        contact.alias, engagement_id)}


def stop_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """No further stage starts and nobody else is engaged; every page not yet read gets a
    STOP receipt (decisions §5). Stopping a stopped engagement succeeds and changes nothing."""
    from incident_contacts.service.pages import add_receipt, cancel_pending, channel_arn_of

    row = find_engagement(ctx, params["EngagementId"], lock=True)
    if row.stop_time is not None:
        return {}
    now = ctx.now()
    reason = params.get("Reason") or None
    ctx.conn.execute(
        engagements.update().where(engagements.c.id == row.id).values(
            stop_time=now,
            stop_reason=None if reason is None
            else ctx.runtime.keyring.seal(reason, aad=aad(row.engagement_id, "stop_reason")),
        )
    )
    ctx.conn.execute(
        engagement_tracks.update()
        .where(engagement_tracks.c.engagement_pk == row.id,
               engagement_tracks.c.stopped_at.is_(None))
        .values(stopped_at=now, stop_reason="ENGAGEMENT_STOPPED")
    )
    unread = ctx.conn.execute(
        sa.select(pages).where(pages.c.engagement_pk == row.id, pages.c.read_time.is_(None))
        .order_by(pages.c.id)
    ).all()
    for page in unread:
        add_receipt(ctx.conn, ctx.runtime, page, "STOP", channel_arn=channel_arn_of(page),
                    note=reason, at=now)
        # Nobody is paged after the stop.
        cancel_pending(ctx.conn, page, "not sent: the engagement was stopped first", now)
    # The reason is personal text: the log shows it opened from the engagement's sealed copy.
    record_event(ctx.conn, row.id, now, "ENGAGEMENT_STOPPED", UnreadPages=len(unread))
    return {}


def describe_engagement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = find_engagement(ctx, params["EngagementId"])
    return {
        "ContactArn": contact_arn(row),
        "EngagementArn": engagement_arn(row),
        "Sender": row.sender,
        **open_texts(ctx.runtime, row),
        "IncidentId": row.incident_id,
        "StartTime": row.start_time,
        "StopTime": row.stop_time,
    }


def _summary(row: Any) -> dict[str, Any]:
    return {
        "EngagementArn": engagement_arn(row),
        "ContactArn": contact_arn(row),
        "Sender": row.sender,
        "IncidentId": row.incident_id,
        "StartTime": row.start_time,
        "StopTime": row.stop_time,
    }


def list_engagements(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The caller's engagements in its region, newest first (spec §8 example 16), optionally
    those of one ``IncidentId`` and those that started within ``TimeRangeValue`` (either end
    may be left open; both ends count as inside)."""
    limit = pagination.page_size(params)
    incident = params.get("IncidentId")
    window = params.get("TimeRangeValue") or {}
    low, high = window.get("StartTime"), window.get("EndTime")
    if low is not None and high is not None and float(high) < float(low):
        raise ValidationException.field(
            "TimeRangeValue", "The time range ends before it starts."
        )
    scope = f"ListEngagements:{ctx.account}:{ctx.region}:{incident}:{low}:{high}"
    secret = ctx.runtime.secret("pagination")
    after = pagination.decode(secret, scope, params.get("NextToken"))
    query = sa.select(engagements).where(
        engagements.c.account == ctx.account, engagements.c.region == ctx.region
    )
    if incident is not None:
        query = query.where(engagements.c.incident_id == incident)
    if low is not None:
        query = query.where(engagements.c.start_time >= float(low))
    if high is not None:
        query = query.where(engagements.c.start_time <= float(high))
    if after:
        start, pk = float(after[0]), int(after[1])
        query = query.where(sa.or_(
            engagements.c.start_time < start,
            sa.and_(engagements.c.start_time == start, engagements.c.id < pk),
        ))
    rows = ctx.conn.execute(
        query.order_by(engagements.c.start_time.desc(), engagements.c.id.desc())
        .limit(limit + 1)
    ).all()
    result: dict[str, Any] = {"Engagements": [_summary(r) for r in rows[:limit]]}
    if len(rows) > limit:
        last = rows[limit - 1]
        result["NextToken"] = pagination.encode(secret, scope, [last.start_time, last.id])
    return result


def list_events(conn: Connection, runtime: Any, given: str, *,
                place: tuple[str, str] | None = None) -> list[dict[str, Any]] | None:
    """The log of the engagement an ARN names, oldest first, as the inspection endpoint
    shows it; None when there is no such engagement (of ``place``, an account and region,
    when given). A stop shows its reason, opened from the engagement's sealed copy."""
    arn = arns.parse(given)
    if (arn is None or arn.kind != "engagement" or len(arn.parts) != 2
            or not arns.well_formed(given)):
        return None
    if place is not None and (arn.account, arn.region, arn.partition) != (
            place[0], place[1], arns.partition(place[1])):
        return None
    row = conn.execute(
        sa.select(engagements.c.id, engagements.c.engagement_id,
                  engagements.c.stop_reason).where(
            engagements.c.engagement_id == arn.parts[1],
            engagements.c.account == arn.account,
            engagements.c.region == arn.region,
            engagements.c.contact_alias == arn.parts[0],
        )
    ).first()
    if row is None:
        return None
    events = conn.execute(
        sa.select(engagement_events).where(engagement_events.c.engagement_pk == row.id)
        .order_by(engagement_events.c.id)
    ).all()
    reason = None if row.stop_reason is None else runtime.open_record(
        row.stop_reason, aad=aad(row.engagement_id, "stop_reason"))
    return [{"Time": e.at, "Type": e.kind, **orjson.loads(e.detail),
             **({"Reason": reason} if e.kind == "ENGAGEMENT_STOPPED" and reason else {})}
            for e in events]


__all__ = [
    "TEXTS",
    "aad",
    "contact_arn",
    "describe_engagement",
    "engagement_arn",
    "find_engagement",
    "list_engagements",
    "list_events",
    "locked",
    "open_texts",
    "record_event",
    "start_engagement",
    "stop_engagement",
]
