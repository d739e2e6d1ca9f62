"""The activation lifecycle of a contact channel (decisions §1).

A channel proves its address with a code: CreateContactChannel (unless ``DeferActivation``),
SendActivationCode and an address change send one; ActivateContactChannel checks it.

* A code is 6 digits from ``secrets``, stored only as HMAC-SHA256 under the server's secret
  and compared in constant time; the plaintext exists only in the outgoing message.
* Each new code voids every earlier one of the channel; DeactivateContactChannel voids all.
* A code expires after ``activation_code_ttl`` seconds (15 minutes by default).
* After ``activation_max_attempts`` wrong tries (5) the code is void.
* At most ``activation_send_limit`` codes (5) per channel per rolling hour; the next
  SendActivationCode is a ServiceQuotaExceededException. Every code sent counts: on create, on
  resend, on an address change (decisions §5).

Concurrent calls on one channel are serialised by locking its row (``FOR UPDATE`` on
PostgreSQL; SQLite has one writer at a time anyway), so neither the quota nor the count of
wrong tries can be overrun by calls in parallel.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import sqlalchemy as sa

from incident_contacts.crypto import hashes_equal, keyed_hash
from incident_contacts.delivery import text
from incident_contacts.errors import ServiceQuotaExceededException, ValidationException
from incident_contacts.service import outbox
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import find_channel
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.core import channels
from incident_contacts.store.schema.delivery import activation_codes
from incident_contacts.store.schema.delivery import outbox as outbox_table

log = logging.getLogger(__name__)

QUOTA_CODE = "activation-codes-per-channel-per-hour"
_WINDOW = 3600.0


def _hash(ctx: RequestContext, channel_id: str, code: str) -> str:
    return keyed_hash(ctx.runtime.secret("activation-codes"), channel_id, code)


# The statements of the hot path, built once: building a Core statement costs several times
# more than running it on SQLite.
_ac = activation_codes.c
_LOCK_CHANNEL = Prepared(sa.select(channels.c.id).where(channels.c.id == sa.bindparam("pk"))
                         .with_for_update())
_FORGET = Prepared(activation_codes.delete().where(
    _ac.channel_pk == sa.bindparam("pk"), _ac.created_at <= sa.bindparam("horizon")))
# The codes sent in the quota window, and the oldest code kept: one look at the channel's
# codes (an index range) tells both.
_SENT_AND_OLDEST = Prepared(sa.select(
    sa.func.count().filter(_ac.created_at > sa.bindparam("since")).label("sent"),
    sa.func.min(_ac.created_at).label("oldest"),
).where(_ac.channel_pk == sa.bindparam("pk")))
_VOID = Prepared(activation_codes.update().where(
    _ac.channel_pk == sa.bindparam("pk"), _ac.voided_at.is_(None)
).values(voided_at=sa.bindparam("now")))
# The messages of codes that stop working, held back by a failing provider (an attempt made,
# a retry waiting), are not sent: a dead code would only mislead, and count as a wrong try.
# A message not yet tried goes out as usual, at once: whether a code sent just before another
# is delivered must not depend on how fast the worker was.
_CANCEL_MESSAGES = outbox.cancel_statement(
    outbox_table.c.channel_arn == sa.bindparam("channel_arn"),
    outbox_table.c.purpose == "ACTIVATION", outbox_table.c.attempts >= 1)
_INSERT_CODE = insert_of(activation_codes, "channel_pk", "code_hash", "created_at",
                         "expires_at", "failed_attempts")
_CURRENT = Prepared(sa.select(activation_codes).where(
    _ac.channel_pk == sa.bindparam("pk"), _ac.voided_at.is_(None)
).order_by(_ac.id.desc()).limit(1))
_LATEST = Prepared(sa.select(activation_codes).where(_ac.channel_pk == sa.bindparam("pk"))
                   .order_by(_ac.id.desc()).limit(1))


def _lock_channel(ctx: RequestContext, channel_pk: int) -> None:
    # SQLite has one writer at a time already (BEGIN IMMEDIATE) and no FOR UPDATE.
    if ctx.conn.dialect.name != "sqlite":
        _LOCK_CHANNEL.all(ctx.conn, {"pk": channel_pk})


def _sent_in_window(ctx: RequestContext, channel_pk: int) -> int:
    """The codes sent in the last hour. Codes past both their lifetime and that window mean
    nothing any more, and are dropped on the way, so a channel's rows stay few however long
    it lives."""
    now = ctx.now()
    row = _SENT_AND_OLDEST.first(ctx.conn, {"pk": channel_pk, "since": now - _WINDOW})
    horizon = now - max(_WINDOW, float(ctx.runtime.settings.activation_code_ttl))
    if row.oldest is not None and row.oldest <= horizon:
        _FORGET.execute(ctx.conn, {"pk": channel_pk, "horizon": horizon})
    return int(row.sent)


def void_codes(ctx: RequestContext, channel: Any, channel_arn: str, reason: str) -> None:
    """Every code of the channel stops working, and their messages held back by a failing
    provider are not sent."""
    now = ctx.now()
    if _VOID.execute(ctx.conn, {"pk": channel.id, "now": now}):
        _CANCEL_MESSAGES.execute(ctx.conn, {"channel_arn": channel_arn, "at": now,
                                            "reason": f"not sent: {reason}"})


REPLACED = "a newer code replaced this one"


def send_code(ctx: RequestContext, channel: Any, channel_arn: str, address: str, *,
              enforce_quota: bool = True) -> bool:
    """Issue a new code for the channel and hand its message to delivery.

    Past the send quota, SendActivationCode (``enforce_quota``) is refused with a
    ServiceQuotaExceededException. An address change, whose operation models no quota error,
    still takes effect but sends no code; the owner asks for one later. Even then the
    codes sent to the old address stop working, since they would prove nothing about the new
    one. Returns whether a code was sent.
    """
    settings = ctx.runtime.settings
    _lock_channel(ctx, channel.id)
    if _sent_in_window(ctx, channel.id) >= settings.activation_send_limit:
        if not enforce_quota:
            void_codes(ctx, channel, channel_arn, "the address changed")
            log.warning("activation send quota reached for %s: no code sent", channel_arn)
            return False
        raise ServiceQuotaExceededException(
            f"At most {settings.activation_send_limit} activation codes can be sent to a "
            "contact channel in an hour.",
            quota_code=QUOTA_CODE, resource_id=channel_arn, resource_type="CONTACT_CHANNEL",
        )
    void_codes(ctx, channel, channel_arn, REPLACED)
    code = f"{secrets.randbelow(10**6):06d}"
    now = ctx.now()
    expires_at = now + settings.activation_code_ttl
    _INSERT_CODE.execute(ctx.conn, {
        "channel_pk": channel.id,
        "code_hash": _hash(ctx, channel.channel_id, code),
        "created_at": now,
        "expires_at": expires_at,
        "failed_attempts": 0,
    })
    # Whole minutes, rounded down (a message never promises more time than the code has),
    # and at least one: a test lifetime under a minute still reads sensibly.
    minutes = max(1, settings.activation_code_ttl // 60)
    words = text.activation_text(channel.type, code, minutes)
    outbox.enqueue(ctx, outbox.NewMessage(
        channel_arn=channel_arn,
        channel_type=channel.type,
        address=address,
        purpose="ACTIVATION",
        subject=words.subject,
        body=words.body,
        speech=words.speech,
        code=code,
        expires_at=expires_at,     # the message is worth sending only while the code works
    ))
    return True


def send_activation_code(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Sends a new code whatever the status; an ACTIVATED channel stays ACTIVATED."""
    from incident_contacts.service.channels import channel_arn, open_address

    row, contact = find_channel(ctx, params["ContactChannelId"])
    send_code(ctx, row, channel_arn(row, contact.alias), open_address(ctx, row))
    return {}


def _wrong_code() -> ValidationException:
    return ValidationException.field(
        "ActivationCode", "The activation code is not valid for this contact channel."
    )


def _activated_with(ctx: RequestContext, channel_pk: int, offered: str, now: float) -> bool:
    """Whether ``offered`` is the code that activated the channel, still within its lifetime:
    the newest code, spent by a right guess (a code voided by wrong guesses ran out of them;
    one superseded, deactivated or sent to an old address is not the newest of an activated
    channel)."""
    latest = _LATEST.first(ctx.conn, {"pk": channel_pk})
    return (latest is not None and latest.voided_at is not None and latest.expires_at > now
            and latest.failed_attempts < ctx.runtime.settings.activation_max_attempts
            and hashes_equal(offered, latest.code_hash))


def activate_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A wrong, superseded, voided or expired code is the same ValidationException and leaves
    the status as it was; the wrong try is still counted (and committed). The code that
    activated the channel, offered again while it would still be valid, succeeds and changes
    nothing: an SDK's retry after a lost answer must not report a failure (spec §3.3.10)."""
    from incident_contacts.service.channels import channel_arn

    row, _contact = find_channel(ctx, params["ContactChannelId"])
    _lock_channel(ctx, row.id)
    now = ctx.now()
    current = _CURRENT.first(ctx.conn, {"pk": row.id})
    offered = _hash(ctx, row.channel_id, params["ActivationCode"])
    if current is None or current.expires_at <= now:
        if row.activation_status == "ACTIVATED" and _activated_with(ctx, row.id, offered, now):
            return {}    # the call that activated the channel, sent again (a retry)
        ctx.fail_after_commit(_wrong_code())
        return {}
    if not hashes_equal(offered, current.code_hash):
        failed = current.failed_attempts + 1
        ctx.conn.execute(activation_codes.update().where(activation_codes.c.id == current.id)
                         .values(failed_attempts=failed))
        if failed >= ctx.runtime.settings.activation_max_attempts:
            void_codes(ctx, row, channel_arn(row, _contact.alias),
                       "the code was voided after too many wrong tries")
        ctx.fail_after_commit(_wrong_code())
        return {}
    void_codes(ctx, row, channel_arn(row, _contact.alias), "the channel was activated")
    ctx.conn.execute(
        channels.update().where(channels.c.id == row.id).values(activation_status="ACTIVATED")
    )
    return {}


__all__ = [
    "activate_contact_channel",
    "send_activation_code",
    "send_code",
    "void_codes",
]
