"""Finding resources by the identifiers requests carry, with the errors AWS gives.

``ResourceId`` in a ResourceNotFoundException is the identifier as the request gave it, and
``ResourceType`` is that of the resource missing (decisions §5).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from incident_contacts.errors import ResourceNotFoundException, ValidationException
from incident_contacts.service import arns
from incident_contacts.service.context import RequestContext
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema.core import channels, contacts


def _not_found(kind: str, resource_type: str, given: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"{kind} {given} was not found.", resource_id=given, resource_type=resource_type
    )


def at_home(ctx: RequestContext, arn: arns.Arn) -> bool:
    """Whether an ARN is of the caller's region and its partition. Each resource lives in one
    region (decisions §3): requests served for another region, or naming another partition,
    do not find it, so no ARN spelled another way escapes the policies written for its own."""
    return arn.region == ctx.region and arn.partition == arns.partition(ctx.region)


def parse_arn(given: str, kind: str, member: str) -> arns.Arn:
    """An ARN of the expected kind, else a ValidationException naming the member."""
    arn = arns.parse(given)
    if arn is None or arn.kind != kind:
        raise ValidationException.field(
            member, f"Value '{given}' at '{member}' is not the ARN of a {kind.replace('-', ' ')}."
        )
    return arn


# Built once: a statement's construction costs more than running it on SQLite.
_CONTACT_BY_ALIAS = Prepared(sa.select(contacts).where(
    contacts.c.account == sa.bindparam("account"),
    contacts.c.region == sa.bindparam("region"),
    contacts.c.alias == sa.bindparam("alias"),
))
_CHANNEL_WITH_CONTACT = Prepared(
    sa.select(
        channels,
        contacts.c.alias.label("contact_alias"),
        contacts.c.type.label("contact_type"),
    )
    .join(contacts, contacts.c.id == channels.c.contact_pk)
    .where(channels.c.channel_id == sa.bindparam("channel_id"))
)


class ContactRef(NamedTuple):
    """The contact a channel belongs to, as far as channel operations need it (a named
    tuple: one is made on every channel call)."""

    id: int
    alias: str
    account: str
    region: str
    type: str


def contact_key(ctx: RequestContext, given: str, *,
                member: str = "ContactId") -> dict[str, str] | None:
    """The account, region and alias a contact ARN names (the contacts table's key), None
    when the ARN cannot name a contact the caller reaches (another region or partition); a
    ValidationException when it is not a contact ARN."""
    arn = parse_arn(given, "contact", member)
    if len(arn.parts) != 1 or not at_home(ctx, arn):
        return None
    return {"account": arn.account, "region": arn.region, "alias": arn.parts[0]}


def contact_not_found(given: str) -> ResourceNotFoundException:
    return _not_found("Contact", "CONTACT", given)


def find_contact(ctx: RequestContext, given: str, *, member: str = "ContactId",
                 missing: str = "not_found") -> Any:
    """The contact an ARN names; ``missing`` says what its absence is: ``not_found`` or
    ``invalid`` (for operations that model no ResourceNotFoundException)."""
    key = contact_key(ctx, given, member=member)
    row = _CONTACT_BY_ALIAS.first(ctx.conn, key) if key is not None else None
    if row is None:
        if missing == "invalid":
            raise ValidationException.field(member, f"Contact {given} does not exist.")
        raise contact_not_found(given)
    return row


def find_channel(ctx: RequestContext, given: str, *,
                 member: str = "ContactChannelId") -> tuple[Any, ContactRef]:
    """The channel an ARN names, and its contact."""
    arn = parse_arn(given, "contact-channel", member)
    if len(arn.parts) != 2 or not at_home(ctx, arn):
        raise _not_found("Contact channel", "CONTACT_CHANNEL", given)
    alias, channel_id = arn.parts
    row = _CHANNEL_WITH_CONTACT.first(ctx.conn, {"channel_id": channel_id})
    if (row is None or row.contact_alias != alias or row.account != arn.account
            or row.region != arn.region):
        # Tell a missing contact from a missing channel of an existing one.
        contact = _CONTACT_BY_ALIAS.first(
            ctx.conn, {"account": arn.account, "region": arn.region, "alias": alias})
        if contact is None:
            raise contact_not_found(given)
        raise _not_found("Contact channel", "CONTACT_CHANNEL", given)
    return row, ContactRef(row.contact_pk, row.contact_alias, row.account, row.region,
                           row.contact_type)


__all__ = ["ContactRef", "at_home", "contact_key", "contact_not_found", "find_channel",
           "find_contact", "parse_arn"]
