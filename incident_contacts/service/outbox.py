"""The outbox: every message handed to delivery is a row, written in the caller's transaction.

A message is durable once the API call that made it commits; the delivery worker
(``engine.delivery``) sends it afterwards, with retries, and resumes whatever a crash left
pending. Addresses, words and codes are sealed with the data key, bound to the message id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.crypto import DecryptError
from incident_contacts.ids import new_id
from incident_contacts.service import arns
from incident_contacts.service.context import RequestContext
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.delivery import outbox

_SEALED = ("address", "subject", "body", "speech", "code")
# Prepared once: it is on the path of every message.
_INSERT = insert_of(outbox, "message_id", "account", "region", "channel_arn", "channel_type",
                    "purpose", "page_arn", "created_at", "status", "attempts",
                    "next_attempt_at", "expires_at", *_SEALED)


def cancel_statement(*conditions: Any) -> Prepared:
    """An UPDATE that stops the ``PENDING`` messages matching ``conditions`` (parameters
    ``reason`` and ``at``), judging each row as it is when locked (on PostgreSQL a worker may
    claim it, or settle a retry, meanwhile). A row no worker holds is ``FAILED`` with the
    reason. A claimed row is being sent right now (or its worker is gone and the claim will
    be given back): its holder records the outcome, so it is left ``PENDING`` to it, with an
    expiry (``at``) that makes the worker fail it rather than send it again
    (``engine.delivery.expired``)."""
    unclaimed = outbox.c.claimed_by.is_(None)
    # The status written out, not bound: only then may the database take the partial index of
    # waiting messages (``ix_outbox_pending_channel``).
    waiting = outbox.c.status == sa.literal_column("'PENDING'")
    return Prepared(outbox.update().where(waiting, *conditions).values(
        status=sa.case((unclaimed, "FAILED"), else_=outbox.c.status),
        last_error=sa.case((unclaimed, sa.bindparam("reason")), else_=outbox.c.last_error),
        expires_at=sa.case((outbox.c.expires_at < sa.bindparam("at"), outbox.c.expires_at),
                           else_=sa.bindparam("at")),
    ))


def aad(message_id: str, column: str) -> str:
    return f"outbox:{message_id}:{column}"


@dataclass(frozen=True)
class NewMessage:
    channel_arn: str
    channel_type: str
    address: str
    purpose: str                  # ACTIVATION | PAGE
    body: str
    subject: str | None = None
    speech: str | None = None
    code: str | None = None       # the activation code or the page's accept code
    page_arn: str | None = None
    expires_at: float | None = None
    """When the message stops being worth sending (an activation message: when its code
    expires, by the service clock); the worker fails it unsent after that."""


def enqueue(ctx: RequestContext, message: NewMessage) -> str:
    """Write the message in the current transaction; the worker is woken after commit."""
    message_id = new_id()
    keyring = ctx.runtime.keyring
    sealed: dict[str, Any] = {}
    for column in _SEALED:
        value = getattr(message, column)
        sealed[column] = None if value is None else keyring.seal(value, aad=aad(message_id,
                                                                                column))
    now = ctx.now()
    _INSERT.execute(ctx.conn, {
        "message_id": message_id,
        "account": ctx.account,
        "region": ctx.region,
        "channel_arn": message.channel_arn,
        "channel_type": message.channel_type,
        "purpose": message.purpose,
        "page_arn": message.page_arn,
        "created_at": now,
        "status": "PENDING",
        "attempts": 0,
        "next_attempt_at": now,
        "expires_at": message.expires_at,
        **sealed,
    })
    ctx.after_commit.append(ctx.runtime.wake_delivery)
    return message_id


def open_column(runtime: Any, row: Any, column: str) -> str | None:
    value = getattr(row, column)
    if value is None:
        return None
    text: str = runtime.keyring.open(value, aad=aad(row.message_id, column))
    return text


def describe(runtime: Any, row: Any) -> dict[str, Any]:
    """A message as the inspection endpoint and ``contacts.messages()`` show it."""
    try:
        opened = {c: open_column(runtime, row, c) for c in _SEALED}
    except DecryptError:
        opened = {c: None for c in _SEALED}
        opened["body"] = "(sealed under a key this server does not hold)"
    entry: dict[str, Any] = {
        "MessageId": row.message_id,
        "ContactChannelArn": row.channel_arn,
        "ChannelType": row.channel_type,
        "DeliveryAddress": opened["address"],
        "Purpose": row.purpose,
        "Subject": opened["subject"],
        "Body": opened["body"],
        "CreatedTime": row.created_at,
        "DeliveryStatus": row.status,
    }
    if row.purpose == "ACTIVATION":
        entry["ActivationCode"] = opened["code"]
    else:
        entry["PageArn"] = row.page_arn
        entry["AcceptCode"] = opened["code"]
    return {k: v for k, v in entry.items() if v is not None}


def list_messages(conn: Connection, runtime: Any, *, channel_arn: str | None = None,
                  place: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Every message, or those of one channel; ``place`` (account, region) keeps one
    account's messages in one region. A ``channel_arn`` no ARN is spelled like names no
    channel (and is kept out of the query: PostgreSQL refuses a NUL in a parameter)."""
    if channel_arn is not None and not arns.well_formed(channel_arn):
        return []
    query = sa.select(outbox).order_by(outbox.c.id)
    if channel_arn is not None:
        query = query.where(outbox.c.channel_arn == channel_arn)
    if place is not None:
        query = query.where(outbox.c.account == place[0], outbox.c.region == place[1])
    return [describe(runtime, row) for row in conn.execute(query)]


def clear(conn: Connection, place: tuple[str, str] | None = None) -> None:
    """Empty the outbox record, or one account's in one region."""
    query = outbox.delete()
    if place is not None:
        query = query.where(outbox.c.account == place[0], outbox.c.region == place[1])
    conn.execute(query)


__all__ = ["NewMessage", "clear", "describe", "enqueue", "list_messages", "open_column"]
