"""PutContactPolicy and GetContactPolicy (spec §6.5).

A contact policy is a resource policy that shares a contact, and its engagements, with
principals of other accounts. It must be a JSON object; it is stored as given.
"""

from __future__ import annotations

from typing import Any

import orjson

from incident_contacts.errors import ValidationException
from incident_contacts.service import arns
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import find_contact
from incident_contacts.store.schema.core import contacts


def put_contact_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = find_contact(ctx, params["ContactArn"], member="ContactArn")
    policy = params["Policy"]
    try:
        document = orjson.loads(policy)
    except orjson.JSONDecodeError as exc:
        raise ValidationException.field("Policy", "The policy is not valid JSON.") from exc
    if not isinstance(document, dict) or "Statement" not in document:
        raise ValidationException.field(
            "Policy", "The policy must be a JSON object with a Statement."
        )
    ctx.conn.execute(contacts.update().where(contacts.c.id == row.id).values(policy=policy))
    return {}


def get_contact_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A contact without a policy answers its ARN alone (no ``Policy`` member)."""
    row = find_contact(ctx, params["ContactArn"], member="ContactArn")
    return {
        "ContactArn": arns.contact_arn(row.region, row.account, row.alias),
        "Policy": row.policy,
    }


__all__ = ["get_contact_policy", "put_contact_policy"]
