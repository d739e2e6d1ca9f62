"""TagResource, UntagResource, ListTagsForResource (spec §6.6).

Contacts (of every type) and rotations are taggable; channels, engagements and pages are not.
Tagging merges (a key given again takes the new value), untagging ignores absent keys, and a
resource holds at most 50 tags (more is a ServiceQuotaExceededException).

On PostgreSQL, where several servers share the database, TagResource and the deletion of a
resource's tags hold a lock of the resource's ARN (``store.locks``) until the call ends, taken
before the resource is looked up. Two TagResource calls then count the tags one after the
other (never 51), and a TagResource racing DeleteContact either tags the contact before its
tags are deleted with it or finds it gone: tags left behind would otherwise be those of the
next contact given the same alias. A new resource's tags need no lock: nothing else can
reach the resource before its create commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts.errors import ServiceQuotaExceededException, ValidationException
from incident_contacts.service import arns
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import find_contact
from incident_contacts.store import locks
from incident_contacts.store.schema.core import tags

MAX_TAGS = 50
TAGS_QUOTA_CODE = "ssm-contacts-tags-per-resource"

# How to check that a taggable resource exists, by ARN kind: f(ctx, arn text) raises
# ResourceNotFoundException when it does not. Rotations register theirs.
Resolver = Callable[[RequestContext, str], None]


def _contact_exists(ctx: RequestContext, given: str) -> None:
    find_contact(ctx, given, member="ResourceARN")


resolvers: dict[str, Resolver] = {"contact": _contact_exists}


def _resource(ctx: RequestContext, given: str) -> str:
    # ``ResourceARN`` is the one ARN member the model gives no pattern: it is checked here,
    # before it reaches a query (a NUL in it was a 500 on PostgreSQL).
    if not arns.well_formed(given):
        raise ValidationException.field(
            "ResourceARN", f"Value '{given}' at 'ResourceARN' is not an ssm-contacts ARN."
        )
    arn = arns.parse(given)
    resolver = resolvers.get(arn.kind) if arn is not None else None
    if resolver is None:
        raise ValidationException.field(
            "ResourceARN", f"Resource {given} cannot be tagged: only contacts and rotations can."
        )
    resolver(ctx, given)
    return given


def put_tags(ctx: RequestContext, resource_arn: str, new_tags: list[dict[str, str]]) -> None:
    current = {
        r.key: r.value
        for r in ctx.conn.execute(
            sa.select(tags.c.key, tags.c.value).where(tags.c.resource_arn == resource_arn)
        )
    }
    wanted = {t["Key"]: t["Value"] for t in new_tags}
    if len(current.keys() | wanted.keys()) > MAX_TAGS:
        raise ServiceQuotaExceededException(
            f"A resource can have at most {MAX_TAGS} tags.",
            quota_code=TAGS_QUOTA_CODE, resource_id=resource_arn,
            resource_type=_resource_type(resource_arn),
        )
    for key, value in wanted.items():
        if key in current:
            if current[key] != value:
                ctx.conn.execute(
                    tags.update()
                    .where(tags.c.resource_arn == resource_arn, tags.c.key == key)
                    .values(value=value)
                )
        else:
            ctx.conn.execute(tags.insert().values(resource_arn=resource_arn, key=key, value=value))


def _lock(ctx: RequestContext, resource_arn: str) -> None:
    locks.hold(ctx.conn, "tags", resource_arn)


def drop_tags(ctx: RequestContext, resource_arn: str) -> None:
    """The tags of a resource being deleted (after its row: a TagResource that takes the lock
    after this one then finds the resource gone)."""
    _lock(ctx, resource_arn)
    ctx.conn.execute(tags.delete().where(tags.c.resource_arn == resource_arn))


def list_tags(ctx: RequestContext, resource_arn: str) -> list[dict[str, str]]:
    rows = ctx.conn.execute(
        sa.select(tags.c.key, tags.c.value)
        .where(tags.c.resource_arn == resource_arn)
        .order_by(tags.c.id)
    )
    return [{"Key": r.key, "Value": r.value} for r in rows]


def tag_map(conn: Connection, resource_arn: str) -> dict[str, str]:
    """A resource's tags by key, for ``aws:ResourceTag/<key>`` (none when it has none or does
    not exist)."""
    rows = conn.execute(sa.select(tags.c.key, tags.c.value)
                        .where(tags.c.resource_arn == resource_arn))
    return {row.key: row.value for row in rows}


def _resource_type(resource_arn: str) -> str:
    arn = arns.parse(resource_arn)
    return "ROTATION" if arn is not None and arn.kind == "rotation" else "CONTACT"


def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    # The lock first: the lookup and the count after it see what its last holder committed.
    _lock(ctx, params["ResourceARN"])
    put_tags(ctx, _resource(ctx, params["ResourceARN"]), params["Tags"])
    return {}


def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    # Ordered like TagResource, and after an authorization that read the tags under the lock.
    _lock(ctx, params["ResourceARN"])
    resource_arn = _resource(ctx, params["ResourceARN"])
    ctx.conn.execute(
        tags.delete().where(tags.c.resource_arn == resource_arn, tags.c.key.in_(params["TagKeys"]))
    )
    return {}


def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": list_tags(ctx, _resource(ctx, params["ResourceARN"]))}


__all__ = [
    "drop_tags",
    "list_tags",
    "list_tags_for_resource",
    "put_tags",
    "resolvers",
    "tag_map",
    "tag_resource",
    "untag_resource",
]
