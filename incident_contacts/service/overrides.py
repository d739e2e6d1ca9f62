"""CreateRotationOverride, GetRotationOverride, DeleteRotationOverride, ListRotationOverrides
(spec §6.4).

An override puts ``NewContactIds`` on call in [StartTime, EndTime) instead of the regular
members; an empty list means nobody is on call then. Decisions (the console's rules, AWS's
API states none): every contact named must be a member of the rotation, each at most once,
and the override must end after it starts. The console's other limits (at least 30 minutes,
at most six months ahead) are not enforced. Where overrides overlap, the one created later
wins. Override ids are UUIDs (the model's ``Uuid``), not ARNs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.errors import ResourceNotFoundException, ValidationException
from incident_contacts.ids import new_id
from incident_contacts.oncall.recurrence import Override
from incident_contacts.service import pagination, rotations
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import at_home, parse_arn
from incident_contacts.store.schema.core import contacts
from incident_contacts.store.schema.rotations import (
    override_members,
    rotation_members,
    rotation_overrides,
)

ROTATION_OVERRIDE = "ROTATION_OVERRIDE"


def create_rotation_override(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The rotation's row is share-locked (PostgreSQL) until the override is written: a
    concurrent DeleteRotation, which would take the members with it, either waits or has
    committed already, when the rotation is not found (rather than its members)."""
    rotation = rotations.find_rotation(ctx, params["RotationId"], lock="share")
    start = rotations.check_instant(params["StartTime"], "StartTime")
    end = rotations.check_instant(params["EndTime"], "EndTime")
    if end <= start:
        raise ValidationException.field("EndTime", "An override must end after it starts.")
    contact_pks = _override_contacts(ctx, rotation.id, params["NewContactIds"])
    override_id = new_id()
    pk = ctx.conn.execute(
        rotation_overrides.insert().values(
            override_id=override_id, rotation_pk=rotation.id, start_time=start, end_time=end,
            created_at=ctx.now(),
        ).returning(rotation_overrides.c.id)
    ).scalar_one()
    if contact_pks:
        ctx.conn.execute(
            override_members.insert(),
            [
                {"override_pk": pk, "position": position, "contact_pk": contact_pk}
                for position, contact_pk in enumerate(contact_pks)
            ],
        )
    return {"RotationOverrideId": override_id}


def get_rotation_override(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rotation = rotations.find_rotation(ctx, params["RotationId"])
    row = _find(ctx, rotation.id, params["RotationOverrideId"])
    return {
        "RotationArn": rotations.rotation_arn(rotation.region, rotation.account,
                                              rotation.rotation_id),
        **_describe(row, _contact_arns(ctx.conn, [row.id])[row.id]),
    }


def delete_rotation_override(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The replaced members are on call again for that time (the model's documentation)."""
    rotation = rotations.find_rotation(ctx, params["RotationId"])
    row = _find(ctx, rotation.id, params["RotationOverrideId"])
    ctx.conn.execute(rotation_overrides.delete().where(rotation_overrides.c.id == row.id))
    return {}


def list_rotation_overrides(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The overrides that overlap [StartTime, EndTime), by start time; keyset-paged."""
    rotation = rotations.find_rotation(ctx, params["RotationId"])
    low, high = float(params["StartTime"]), float(params["EndTime"])
    if high <= low:
        raise ValidationException.field("EndTime", "EndTime must be after StartTime.")
    limit = pagination.page_size(params)
    secret = ctx.runtime.secret("pagination")
    scope = f"ListRotationOverrides:{rotation.rotation_id}:{low!r}:{high!r}"
    after = pagination.decode(secret, scope, params.get("NextToken"))
    o = rotation_overrides.c
    query = sa.select(rotation_overrides).where(
        o.rotation_pk == rotation.id, o.end_time > low, o.start_time < high
    )
    if after:
        start, pk = float(after[0]), int(after[1])
        query = query.where(sa.or_(o.start_time > start, sa.and_(o.start_time == start,
                                                                  o.id > pk)))
    rows = ctx.conn.execute(query.order_by(o.start_time, o.id).limit(limit + 1)).all()
    page = rows[:limit]
    members = _contact_arns(ctx.conn, [r.id for r in page])
    result: dict[str, Any] = {"RotationOverrides": [_describe(r, members[r.id]) for r in page]}
    if len(rows) > limit:
        result["NextToken"] = pagination.encode(secret, scope,
                                                [page[-1].start_time, page[-1].id])
    return result


def overrides_between(conn: Connection, rotation_pk: int, low: float,
                      high: float) -> list[Override]:
    """The rotation's overrides that overlap [low, high), in creation order (later wins)."""
    o = rotation_overrides.c
    rows = conn.execute(
        sa.select(o.id, o.start_time, o.end_time)
        .where(o.rotation_pk == rotation_pk, o.end_time > low, o.start_time < high)
        .order_by(o.id)
    ).all()
    members = _contact_arns(conn, [r.id for r in rows])
    return [Override(r.start_time, r.end_time, tuple(members[r.id])) for r in rows]


def override_at(conn: Connection, rotation_pk: int, instant: float) -> list[Override]:
    """The override in effect at ``instant``, the latest created of those covering it, as a
    list of at most one: all that :func:`~incident_contacts.oncall.recurrence.on_call_at`
    uses of :func:`overrides_between`, without loading every other covering override."""
    o = rotation_overrides.c
    rows = conn.execute(
        sa.select(o.id, o.start_time, o.end_time)
        .where(o.rotation_pk == rotation_pk, o.end_time > instant, o.start_time <= instant)
        .order_by(o.id.desc()).limit(1)
    ).all()
    members = _contact_arns(conn, [r.id for r in rows])
    return [Override(r.start_time, r.end_time, tuple(members[r.id])) for r in rows]


def _find(ctx: RequestContext, rotation_pk: int, override_id: str) -> Row[Any]:
    row = ctx.conn.execute(
        sa.select(rotation_overrides).where(
            rotation_overrides.c.rotation_pk == rotation_pk,
            rotation_overrides.c.override_id == override_id.lower(),
        )
    ).first()
    if row is None:
        raise ResourceNotFoundException(
            f"Rotation override {override_id} was not found.",
            resource_id=override_id, resource_type=ROTATION_OVERRIDE,
        )
    return row


def _override_contacts(ctx: RequestContext, rotation_pk: int, given: Sequence[str]) -> list[int]:
    members = {
        r.alias: r.id
        for r in ctx.conn.execute(
            sa.select(contacts.c.id, contacts.c.alias)
            .join(rotation_members, rotation_members.c.contact_pk == contacts.c.id)
            .where(rotation_members.c.rotation_pk == rotation_pk)
        )
    }
    chosen: list[int] = []
    for index, text in enumerate(given):
        path = f"NewContactIds[{index}]"
        arn = parse_arn(text, "contact", path)
        pk = None
        if arn.account == ctx.account and at_home(ctx, arn) and len(arn.parts) == 1:
            pk = members.get(arn.parts[0])
        if pk is None:
            raise ValidationException.field(
                path, f"Contact {text} is not a member of the rotation."
            )
        if pk in chosen:
            raise ValidationException.field(path, f"Contact {text} is listed more than once.")
        chosen.append(pk)
    return chosen


def _contact_arns(conn: Connection, override_pks: list[int]) -> dict[int, list[str]]:
    return rotations.listed_contacts(conn, override_members, "override_pk", override_pks)


def _describe(row: Row[Any], contact_arns: list[str]) -> dict[str, Any]:
    return {
        "RotationOverrideId": row.override_id,
        "NewContactIds": contact_arns,
        "StartTime": row.start_time,
        "EndTime": row.end_time,
        "CreateTime": row.created_at,
    }


__all__ = [
    "ROTATION_OVERRIDE",
    "create_rotation_override",
    "delete_rotation_override",
    "get_rotation_override",
    "list_rotation_overrides",
    "override_at",
    "overrides_between",
]
