"""CreateRotation, GetRotation, UpdateRotation, DeleteRotation, ListRotations (spec §6.4).

A rotation is ``arn:<partition>:ssm-contacts:<region>:<account>:rotation/<uuid4>`` (spec §2.3:
the name may hold spaces, which an ARN cannot, so the id is a UUID). Its members are PERSONAL
contacts of the same account and region, in shift order, each at most once. The
``Recurrence`` is kept exactly as sent, so GetRotation gives Daily/Weekly/MonthlySettings back
in the caller's order (Terraform compares them positionally, spec §6.9).

The helpers at the bottom serve the rest of the service: :func:`resolves` for on-call
schedule plans (service/plans.py), :func:`check_contact_unused` for DeleteContact
(service/contacts.py), and the loaders that :mod:`incident_contacts.service.oncall`, overrides
and shifts build on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.errors import (
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from incident_contacts.ids import new_id
from incident_contacts.oncall.recurrence import MAX_INSTANT, MIN_INSTANT, Recurrence
from incident_contacts.oncall.zones import validate_time_zone
from incident_contacts.parsed import ParsedTexts
from incident_contacts.service import arns, pagination, quotas, tags
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import at_home, parse_arn
from incident_contacts.store.schema.core import contacts
from incident_contacts.store.schema.rotations import rotation_members, rotations

ROTATION = "ROTATION"
MEMBER_RELATION = "ROTATION_MEMBER"
"""``RelationType`` of the rotations a contact is a member of, in DeleteContact's conflict."""
MAX_DEPENDENTS = 25  # DependentEntity.DependentResourceIds holds at most 25 ARNs (model)


def rotation_arn(region: str, account: str, rotation_id: str) -> str:
    return arns.build(region, account, "rotation", rotation_id)


# -- operations --------------------------------------------------------------------------


def create_rotation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Members must be PERSONAL contacts of the caller's account and region (AWS documents
    that escalation plans and schedules are rejected): another type, or a contact of another
    account or region, is a ValidationException; one that does not exist is a
    ResourceNotFoundException with ResourceType CONTACT. Without ``StartTime`` the shifts
    count from now, and GetRotation and ListRotations leave ``StartTime`` out (as AWS does:
    Terraform's ``start_time`` is optional and not computed, so a start it never set would
    change every plan after apply)."""
    time_zone, recurrence = _check_settings(params)
    start = _start_time(ctx, params.get("StartTime"))
    member_pks = _member_pks(ctx, params["ContactIds"])
    quotas.check_new_rotation(ctx)
    rotation_id = new_id()
    arn = rotation_arn(ctx.region, ctx.account, rotation_id)
    pk = ctx.conn.execute(
        rotations.insert().values(
            rotation_id=rotation_id,
            account=ctx.account,
            region=ctx.region,
            name=params["Name"],
            start_time=start,
            start_given=params.get("StartTime") is not None,
            time_zone=time_zone,
            recurrence=recurrence,
            created_at=ctx.now(),
        ).returning(rotations.c.id)
    ).scalar_one()
    _put_members(ctx.conn, pk, member_pks)
    if params.get("Tags"):
        tags.put_tags(ctx, arn, params["Tags"])
    return {"RotationArn": arn}


def get_rotation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = find_rotation(ctx, params["RotationId"])
    return _describe(row, member_arns(ctx.conn, [row.id])[row.id])


def update_rotation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """``Recurrence`` is required and replaces the old one; ``ContactIds``, ``StartTime`` and
    ``TimeZoneId`` change only when given (a rotation given a ``StartTime`` reports it from
    then on; one left without keeps reporting none). The name cannot change (the model has no member
    for it). Overrides stay as they are, even when they name a contact no longer a member.

    Only the columns given are written: a call that leaves ``TimeZoneId`` out never writes
    back the zone it read, which a concurrent call (PostgreSQL) may have changed since."""
    row = find_rotation(ctx, params["RotationId"])
    time_zone, recurrence = _check_settings({"TimeZoneId": row.time_zone, **params})
    values: dict[str, Any] = {"recurrence": recurrence}
    if "TimeZoneId" in params:
        values["time_zone"] = time_zone
    if params.get("StartTime") is not None:
        values["start_time"] = _start_time(ctx, params["StartTime"])
        values["start_given"] = True
    if params.get("ContactIds") is not None:
        member_pks = _member_pks(ctx, params["ContactIds"])
        ctx.conn.execute(rotation_members.delete().where(rotation_members.c.rotation_pk == row.id))
        _put_members(ctx.conn, row.id, member_pks)
    ctx.conn.execute(rotations.update().where(rotations.c.id == row.id).values(**values))
    return {}


def delete_rotation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deletes the rotation with its overrides and tags, and takes it out of every on-call
    schedule of the account and region that lists it (the model's documentation). A schedule
    left with no rotation keeps an empty ``RotationIds``."""
    row = find_rotation(ctx, params["RotationId"], lock="update")
    arn = rotation_arn(row.region, row.account, row.rotation_id)
    _remove_from_schedules(ctx.conn, row.account, row.region, arn, row.rotation_id)
    ctx.conn.execute(rotations.delete().where(rotations.c.id == row.id))
    tags.drop_tags(ctx, arn)
    return {}


def list_rotations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Rotations in creation order (AWS states no order; creation order is stable on every
    database, unlike name order under PostgreSQL collations), filtered by a case-sensitive
    ``RotationNamePrefix``; keyset-paged."""
    scope = f"ListRotations:{ctx.account}:{ctx.region}:{params.get('RotationNamePrefix', '')}"
    query = sa.select(rotations).where(
        rotations.c.account == ctx.account, rotations.c.region == ctx.region
    )
    prefix = params.get("RotationNamePrefix")
    if prefix:
        # substr equality, not LIKE: LIKE is case-insensitive on SQLite and has wildcards.
        query = query.where(sa.func.substr(rotations.c.name, 1, len(prefix)) == prefix)
    page, token = pagination.by_id(ctx, query, rotations.c.id, scope, params)
    members = member_arns(ctx.conn, [r.id for r in page])
    return {"Rotations": [_describe(r, members[r.id]) for r in page], "NextToken": token}


# -- for the rest of the service -----------------------------------------------------------


def lookup(conn: Connection, given: str, account: str | None = None,
           region: str | None = None, *, lock: str | None = None) -> Row[Any] | None:
    """The rotation row a rotation ARN names, or None. With ``account``/``region`` the ARN
    must also be theirs: rotations are never shared across accounts (decisions §3).

    ``lock`` ("share" or "update") locks the row on PostgreSQL until the transaction ends, so
    that a schedule naming the rotation and the rotation's deletion cannot interleave and
    leave a schedule naming a deleted rotation (SQLite runs one writer at a time)."""
    arn = arns.parse(given)
    if arn is None or arn.kind != "rotation" or len(arn.parts) != 1:
        return None
    if (account is not None and arn.account != account) or (
        region is not None and arn.region != region
    ):
        return None
    if given != rotation_arn(arn.region, arn.account, arn.parts[0]):
        return None
    query = sa.select(rotations).where(
        rotations.c.rotation_id == arn.parts[0],
        rotations.c.account == arn.account,
        rotations.c.region == arn.region,
    )
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    return conn.execute(query).first()


def find_rotation(ctx: RequestContext, given: str, *, member: str = "RotationId",
                  lock: str | None = None) -> Row[Any]:
    """The caller's rotation an ARN names; ResourceNotFoundException (ROTATION) if none."""
    parse_arn(given, "rotation", member)
    row = lookup(ctx.conn, given, ctx.account, ctx.region, lock=lock)
    if row is None:
        raise ResourceNotFoundException(
            f"Rotation {given} was not found.", resource_id=given, resource_type=ROTATION
        )
    return row


def resolves(ctx: RequestContext, given: str) -> bool:
    """Whether ``given`` is the ARN of one of the caller's rotations (on-call schedule plans);
    the row stays share-locked until the plan is written."""
    return lookup(ctx.conn, given, ctx.account, ctx.region, lock="share") is not None


def listed_contacts(conn: Connection, members: sa.Table, owner: str,
                    owner_pks: Iterable[int]) -> dict[int, list[str]]:
    """The contacts a membership table lists for each owner (a rotation, an override), as
    contact ARNs in their ``position`` order."""
    wanted = list(owner_pks)
    out: dict[int, list[str]] = {pk: [] for pk in wanted}
    if not wanted:
        return out
    owner_column = members.c[owner]
    rows = conn.execute(
        sa.select(owner_column.label("owner_pk"), contacts.c.account, contacts.c.region,
                  contacts.c.alias)
        .join(contacts, contacts.c.id == members.c.contact_pk)
        .where(owner_column.in_(wanted))
        .order_by(owner_column, members.c.position)
    )
    for r in rows:
        out[r.owner_pk].append(arns.contact_arn(r.region, r.account, r.alias))
    return out


def member_arns(conn: Connection, rotation_pks: Iterable[int]) -> dict[int, list[str]]:
    """The members of each rotation, as contact ARNs in shift order."""
    return listed_contacts(conn, rotation_members, "rotation_pk", rotation_pks)


def recurrence_of(row: Row[Any]) -> Recurrence:
    """The parsed recurrence of a stored rotation (it was checked when stored). Parsed
    once per text while kept (:data:`PARSED_RECURRENCE_ITEMS`): an engagement stage reaching
    many schedules would otherwise parse up to 2 MiB of hand-offs for each of them."""
    return _RECURRENCES.get(row.recurrence)


def _size(recurrence: Recurrence) -> int:
    windows = sum(len(day) for day in recurrence.coverage or ())
    return 1 + len(recurrence.hand_offs) + windows


PARSED_RECURRENCE_ITEMS = 200_000
"""Hand-offs and coverage windows of the parsed recurrences kept (~20 MB), named by a digest
of their stored text. A Recurrence is frozen, so callers share it safely."""
_RECURRENCES: ParsedTexts[Recurrence] = ParsedTexts(
    lambda data: parse_recurrence(orjson.loads(data)), PARSED_RECURRENCE_ITEMS, _size)


HAND_OFF_LISTS = ("DailySettings", "WeeklySettings", "MonthlySettings")


def parse_recurrence(given: dict[str, Any], prefix: str = "Recurrence") -> Recurrence:
    """``RecurrenceSettings`` parsed, an empty Daily/Weekly/MonthlySettings list counting as
    not given. Terraform's ``aws_ssmcontacts_rotation`` sends all three, the ones without
    blocks as ``[]`` (its list blocks are never null), and AWS accepts that (spec §6.9), so
    "exactly one of them" means exactly one non-empty one. The lists are stored as sent.
    When no list holds a hand-off, the refusal names the first empty one ("must contain at
    least one hand-off time"), not "exactly one must be specified"."""
    kept = {name: value for name, value in given.items()
            if not (name in HAND_OFF_LISTS and value == [])}
    if not any(kept.get(name) is not None for name in HAND_OFF_LISTS):
        empty = [name for name in HAND_OFF_LISTS if given.get(name) == []]
        if empty:
            kept[empty[0]] = []
    return Recurrence.from_wire(kept, prefix)


def check_contact_unused(ctx: RequestContext, contact: Row[Any]) -> None:
    """DeleteContact's guard: a rotation member cannot be deleted. ConflictException with
    ``DependentEntities`` ``[{"RelationType": "ROTATION_MEMBER", "DependentResourceIds":
    [rotation ARNs]}]`` (the model's documented case; the token is ours, spec §4)."""
    rows = ctx.conn.execute(
        sa.select(rotations.c.region, rotations.c.account, rotations.c.rotation_id)
        .join(rotation_members, rotation_members.c.rotation_pk == rotations.c.id)
        .where(rotation_members.c.contact_pk == contact.id)
        .group_by(rotations.c.id, rotations.c.region, rotations.c.account,
                  rotations.c.rotation_id)
        .order_by(rotations.c.id)
    ).all()
    if not rows:
        return
    dependents = [rotation_arn(r.region, r.account, r.rotation_id) for r in rows]
    arn = arns.contact_arn(contact.region, contact.account, contact.alias)
    which = "a rotation" if len(dependents) == 1 else f"{len(dependents)} rotations"
    raise ConflictException(
        f"Contact {arn} cannot be deleted: it is a member of {which}.",
        resource_id=arn,
        resource_type="CONTACT",
        dependent_entities=[
            {"RelationType": MEMBER_RELATION, "DependentResourceIds": dependents[:MAX_DEPENDENTS]}
        ],
    )


def check_instant(value: float, member: str) -> float:
    """A time the shift arithmetic can place: from 1900 to 9000 (MIN/MAX_INSTANT)."""
    if not MIN_INSTANT <= value < MAX_INSTANT:
        raise ValidationException.field(
            member, f"Value at '{member}' must be a time between the years 1900 and 9000."
        )
    return float(value)


# -- internals ---------------------------------------------------------------------------


def _check_settings(params: dict[str, Any]) -> tuple[str, str]:
    """The zone and the recurrence (JSON, as sent) after checking both."""
    time_zone: str = params["TimeZoneId"]
    validate_time_zone(time_zone, "TimeZoneId")
    parse_recurrence(params["Recurrence"])
    return time_zone, orjson.dumps(params["Recurrence"]).decode()


def _start_time(ctx: RequestContext, given: float | None) -> float:
    return ctx.now() if given is None else check_instant(given, "StartTime")


def _member_pks(ctx: RequestContext, given: Sequence[str]) -> list[int]:
    aliases: list[str] = []
    for index, text in enumerate(given):
        path = f"ContactIds[{index}]"
        arn = parse_arn(text, "contact", path)
        if arn.account != ctx.account or not at_home(ctx, arn) or len(arn.parts) != 1:
            raise ValidationException.field(
                path, f"Contact {text} is not in the rotation's account and region."
            )
        if arn.parts[0] in aliases:
            raise ValidationException.field(path, f"Contact {text} is listed more than once.")
        aliases.append(arn.parts[0])
    found = {
        r.alias: r
        for r in ctx.conn.execute(
            sa.select(contacts.c.id, contacts.c.alias, contacts.c.type).where(
                contacts.c.account == ctx.account,
                contacts.c.region == ctx.region,
                contacts.c.alias.in_(aliases),
            )
        )
    }
    for index, alias in enumerate(aliases):
        row = found.get(alias)
        if row is None:
            raise ResourceNotFoundException(
                f"Contact {given[index]} was not found.",
                resource_id=given[index], resource_type="CONTACT",
            )
        if row.type != "PERSONAL":
            raise ValidationException.field(
                f"ContactIds[{index}]",
                f"Contact {given[index]} is of type {row.type}: only PERSONAL contacts can be "
                "members of a rotation.",
            )
    return [found[alias].id for alias in aliases]


def _put_members(conn: Connection, rotation_pk: int, member_pks: list[int]) -> None:
    conn.execute(
        rotation_members.insert(),
        [
            {"rotation_pk": rotation_pk, "position": position, "contact_pk": pk}
            for position, pk in enumerate(member_pks)
        ],
    )


def _describe(row: Row[Any], members: list[str]) -> dict[str, Any]:
    return {
        "RotationArn": rotation_arn(row.region, row.account, row.rotation_id),
        "Name": row.name,
        "ContactIds": members,
        "StartTime": row.start_time if row.start_given else None,
        "TimeZoneId": row.time_zone,
        "Recurrence": orjson.loads(row.recurrence),
    }


def _remove_from_schedules(conn: Connection, account: str, region: str, arn: str,
                           rotation_id: str) -> None:
    # A UUID has no LIKE wildcards; the JSON is then read to drop exactly this ARN. The rows
    # are locked as they are read (PostgreSQL; SQLite has one writer): a concurrent
    # UpdateContact of a schedule either commits first, and its plan is the one read here, or
    # waits for this one, so neither write is built on a plan the other replaced.
    rows = conn.execute(
        sa.select(contacts.c.id, contacts.c.plan).where(
            contacts.c.account == account,
            contacts.c.region == region,
            contacts.c.type == "ONCALL_SCHEDULE",
            contacts.c.plan.like(f"%{rotation_id}%"),
        ).with_for_update()
    ).all()
    for r in rows:
        plan = orjson.loads(r.plan)
        kept = [given for given in plan.get("RotationIds") or [] if given != arn]
        if len(kept) != len(plan.get("RotationIds") or []):
            plan["RotationIds"] = kept
            conn.execute(
                contacts.update().where(contacts.c.id == r.id)
                .values(plan=orjson.dumps(plan).decode())
            )


def _tag_target(ctx: RequestContext, given: str) -> None:
    find_rotation(ctx, given, member="ResourceARN")


tags.resolvers["rotation"] = _tag_target


__all__ = [
    "MEMBER_RELATION",
    "ROTATION",
    "check_contact_unused",
    "check_instant",
    "create_rotation",
    "delete_rotation",
    "find_rotation",
    "get_rotation",
    "list_rotations",
    "lookup",
    "member_arns",
    "parse_recurrence",
    "recurrence_of",
    "resolves",
    "rotation_arn",
    "update_rotation",
]
