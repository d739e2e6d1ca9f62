"""PutContactPolicy and GetContactPolicy (spec §6.5).

A contact policy is a resource policy that shares a contact, and its engagements, with
principals of other accounts. It must be an IAM policy document the authorizer can evaluate
(``auth.policy.Policy``); it is stored as given.
"""

from __future__ import annotations

from typing import Any

from incident_contacts.auth.policy import Policy
from incident_contacts.errors import ValidationException
from incident_contacts.service import arns
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import find_contact
from incident_contacts.store.schema.core import contacts


def put_contact_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = find_contact(ctx, params["ContactArn"], member="ContactArn")
    policy = params["Policy"]
    try:
        # The policy is checked as it will be evaluated, so that one accepted here never
        # silently grants nothing.
        Policy.parse(policy)
    except ValueError as exc:
        raise ValidationException.field("Policy", f"The policy is not valid: {exc}.") from exc
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
