"""Contact channels: Create/Get/Update/Delete/ListContactChannels, DeactivateContactChannel.

Delivery addresses are personal data: they are stored sealed with the data key, bound to
their row, and found again (a duplicate address on one contact) through a keyed blind index
(spec §6.2, decisions §5). The activation lifecycle lives in ``service.activation``.
"""

from __future__ import annotations

from typing import Any

import regex
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from incident_contacts.errors import ConflictException, ValidationException
from incident_contacts.ids import new_id
from incident_contacts.service import activation, arns, pagination
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import find_channel, find_contact
from incident_contacts.store.schema.core import channels

# E.164: a plus, a country code and number, 8 to 15 digits in all (the console asks for
# 9–15 characters starting with "+").
_PHONE = regex.compile(r"^\+[1-9][0-9]{7,14}$")
# No spaces and no control characters (a NUL, an escape): nothing a mail server would take.
_EMAIL = regex.compile(r"^[^@\s\p{Cc}]+@[^@\s\p{Cc}]+\.[^@\s\p{Cc}]+$")


def address_of(params: dict[str, Any]) -> str:
    """``DeliveryAddress.SimpleAddress``, which the model leaves optional but a channel needs."""
    address = params["DeliveryAddress"].get("SimpleAddress")
    if address is None:
        raise ValidationException.field(
            "DeliveryAddress.SimpleAddress", "A delivery address needs a SimpleAddress."
        )
    text: str = address
    return text


def check_address(channel_type: str, address: str, path: str) -> None:
    if channel_type in ("SMS", "VOICE"):
        if not _PHONE.match(address):
            raise ValidationException.field(
                path,
                f"Value '{address}' at '{path}' is not a phone number in E.164 format "
                "(a plus sign, the country code and the number, e.g. +15005550199).",
            )
    elif not _EMAIL.match(address):
        raise ValidationException.field(
            path, f"Value '{address}' at '{path}' is not an email address."
        )


def _address_aad(channel_id: str) -> str:
    return f"channels:{channel_id}:address"


def seal_address(ctx: RequestContext, channel_id: str, address: str) -> tuple[str, str]:
    """The sealed address and its blind index."""
    sealed = ctx.runtime.keyring.seal(address, aad=_address_aad(channel_id))
    return sealed, ctx.runtime.blind_index("channel-address", address)


def open_address(ctx: RequestContext, row: Any) -> str:
    return ctx.runtime.open_record(row.address, aad=_address_aad(row.channel_id))


def channel_arn(row: Any, alias: str) -> str:
    return arns.channel_arn(row.region, row.account, alias, row.channel_id)


def describe(ctx: RequestContext, row: Any, alias: str) -> dict[str, Any]:
    return {
        "ContactArn": arns.contact_arn(row.region, row.account, alias),
        "ContactChannelArn": channel_arn(row, alias),
        "Name": row.name,
        "Type": row.type,
        "DeliveryAddress": {"SimpleAddress": open_address(ctx, row)},
        "ActivationStatus": row.activation_status,
    }


def _conflict(arn: str) -> ConflictException:
    return ConflictException(
        "The contact already has a channel of this type with this delivery address.",
        resource_id=arn, resource_type="CONTACT_CHANNEL",
    )


def _duplicate(ctx: RequestContext, contact_pk: int, channel_type: str, index: str,
               alias: str) -> str | None:
    row = ctx.conn.execute(
        sa.select(channels).where(
            channels.c.contact_pk == contact_pk,
            channels.c.type == channel_type,
            channels.c.address_index == index,
        )
    ).first()
    return channel_arn(row, alias) if row is not None else None


def create_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Channels belong to PERSONAL contacts. The contact not existing is a ValidationException
    (the operation models no ResourceNotFoundException). An activation code is sent unless
    ``DeferActivation`` is true (decisions §1)."""
    contact = find_contact(ctx, params["ContactId"], missing="invalid")
    if contact.type != "PERSONAL":
        raise ValidationException.field(
            "ContactId", "Contact channels can only be added to a PERSONAL contact."
        )
    channel_type = params["Type"]
    address = address_of(params)
    check_address(channel_type, address, "DeliveryAddress.SimpleAddress")
    channel_id = new_id()
    sealed, index = seal_address(ctx, channel_id, address)
    existing = _duplicate(ctx, contact.id, channel_type, index, contact.alias)
    if existing is not None:
        raise _conflict(existing)
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                channels.insert().values(
                    channel_id=channel_id,
                    contact_pk=contact.id,
                    account=contact.account,
                    region=contact.region,
                    name=params["Name"],
                    type=channel_type,
                    address=sealed,
                    address_index=index,
                    activation_status="NOT_ACTIVATED",
                    created_at=ctx.now(),
                )
            )
    except IntegrityError as exc:
        # Lost to a concurrent call (PostgreSQL): the index made this insert wait for it to
        # commit. When it added the same address, its channel is committed and seen now: name
        # it, as the check above would have. Otherwise it deleted the contact: the dispatcher
        # runs the call again, which then finds no contact.
        existing = _duplicate(ctx, contact.id, channel_type, index, contact.alias)
        if existing is None:
            raise
        raise _conflict(existing) from exc
    row = ctx.conn.execute(sa.select(channels).where(channels.c.channel_id == channel_id)).one()
    arn = channel_arn(row, contact.alias)
    if not params.get("DeferActivation"):
        activation.send_code(ctx, row, arn, address)
    return {"ContactChannelArn": arn}


def get_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row, contact = find_channel(ctx, params["ContactChannelId"])
    return describe(ctx, row, contact.alias)


def update_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A ``Name``-only change touches nothing else. A new, different ``DeliveryAddress``
    makes the channel ``NOT_ACTIVATED`` and sends a code to the new address (decisions §1)."""
    row, contact = find_channel(ctx, params["ContactChannelId"])
    values: dict[str, Any] = {}
    if "Name" in params:
        values["name"] = params["Name"]
    new_address: str | None = None
    if "DeliveryAddress" in params:
        address = address_of(params)
        check_address(row.type, address, "DeliveryAddress.SimpleAddress")
        if address != open_address(ctx, row):
            sealed, index = seal_address(ctx, row.channel_id, address)
            existing = _duplicate(ctx, row.contact_pk, row.type, index, contact.alias)
            if existing is not None:
                raise _conflict(existing)
            values.update(address=sealed, address_index=index,
                          activation_status="NOT_ACTIVATED")
            new_address = address
    if values:
        ctx.conn.execute(channels.update().where(channels.c.id == row.id).values(**values))
    if new_address is not None:
        arn = channel_arn(row, contact.alias)
        activation.send_code(ctx, row, arn, new_address, enforce_quota=False)
    return {}


def delete_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The channel goes; plans that name it keep the reference, and engagements skip it."""
    row, _contact = find_channel(ctx, params["ContactChannelId"])
    ctx.conn.execute(channels.delete().where(channels.c.id == row.id))
    return {}


def deactivate_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Status ``NOT_ACTIVATED``; every outstanding code stops working (decisions §1)."""
    row, _contact = find_channel(ctx, params["ContactChannelId"])
    ctx.conn.execute(
        channels.update().where(channels.c.id == row.id).values(activation_status="NOT_ACTIVATED")
    )
    activation.void_codes(ctx, row, channel_arn(row, _contact.alias),
                          "the channel was deactivated")
    return {}


def list_contact_channels(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = find_contact(ctx, params["ContactId"])
    rows, token = pagination.by_id(
        ctx, sa.select(channels).where(channels.c.contact_pk == contact.id), channels.c.id,
        f"ListContactChannels:{contact.id}", params)
    result: dict[str, Any] = {
        "ContactChannels": [describe(ctx, r, contact.alias) for r in rows], "NextToken": token,
    }
    return result


__all__ = [
    "check_address",
    "create_contact_channel",
    "deactivate_contact_channel",
    "delete_contact_channel",
    "get_contact_channel",
    "list_contact_channels",
    "open_address",
    "update_contact_channel",
]
