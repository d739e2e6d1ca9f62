"""Finding resources by the identifiers requests carry, with the errors AWS gives.

``ResourceId`` in a ResourceNotFoundException is the identifier as the request gave it, and
``ResourceType`` is that of the resource missing (decisions §5).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from incident_contacts.errors import ResourceNotFoundException, ValidationException
from incident_contacts.service import arns
from incident_contacts.service.context import RequestContext
from incident_contacts.store.schema.core import channels, contacts


def _not_found(kind: str, resource_type: str, given: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"{kind} {given} was not found.", resource_id=given, resource_type=resource_type
    )


def parse_arn(given: str, kind: str, member: str) -> arns.Arn:
    """An ARN of the expected kind, else a ValidationException naming the member."""
    arn = arns.parse(given)
    if arn is None or arn.kind != kind:
        raise ValidationException.field(
            member, f"Value '{given}' at '{member}' is not the ARN of a {kind.replace('-', ' ')}."
        )
    return arn


def find_contact(ctx: RequestContext, given: str, *, member: str = "ContactId",
                 missing: str = "not_found") -> Row[Any]:
    """The contact an ARN names; ``missing`` says what its absence is: ``not_found`` or
    ``invalid`` (for operations that model no ResourceNotFoundException)."""
    arn = parse_arn(given, "contact", member)
    row = ctx.conn.execute(
        sa.select(contacts).where(
            contacts.c.account == arn.account,
            contacts.c.region == arn.region,
            contacts.c.alias == arn.parts[0],
        )
    ).first() if len(arn.parts) == 1 else None
    if row is None:
        if missing == "invalid":
            raise ValidationException.field(member, f"Contact {given} does not exist.")
        raise _not_found("Contact", "CONTACT", given)
    return row


def find_channel(ctx: RequestContext, given: str, *,
                 member: str = "ContactChannelId") -> tuple[Row[Any], Row[Any]]:
    """The channel an ARN names and its contact."""
    arn = parse_arn(given, "contact-channel", member)
    if len(arn.parts) != 2:
        raise _not_found("Contact channel", "CONTACT_CHANNEL", given)
    alias, channel_id = arn.parts
    row = ctx.conn.execute(
        sa.select(channels, contacts.c.alias.label("contact_alias"))
        .join(contacts, contacts.c.id == channels.c.contact_pk)
        .where(
            channels.c.channel_id == channel_id,
            channels.c.account == arn.account,
            channels.c.region == arn.region,
        )
    ).first()
    if row is None or row.contact_alias != alias:
        # Tell a missing contact from a missing channel of an existing one.
        contact = ctx.conn.execute(
            sa.select(contacts).where(
                contacts.c.account == arn.account,
                contacts.c.region == arn.region,
                contacts.c.alias == alias,
            )
        ).first()
        if contact is None:
            raise _not_found("Contact", "CONTACT", given)
        raise _not_found("Contact channel", "CONTACT_CHANNEL", given)
    contact = ctx.conn.execute(sa.select(contacts).where(contacts.c.id == row.contact_pk)).one()
    return row, contact


__all__ = ["find_channel", "find_contact", "parse_arn"]
