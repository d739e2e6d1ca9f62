"""Who is on call at an instant, for the engagement engine.

Both functions read inside the caller's transaction and compute with the same shift
arithmetic as ListRotationShifts (:mod:`incident_contacts.oncall.recurrence`), so the engine
pages exactly the people the shifts show: overrides applied, nobody outside ShiftCoverages or
before the rotation starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from incident_contacts.oncall.recurrence import on_call_at
from incident_contacts.service import overrides, rotations


def on_call_contacts(conn: Connection, rotation_arn: str, instant: float) -> list[str]:
    """The contact ARNs on call in the rotation ``rotation_arn`` at ``instant`` (epoch
    seconds), in the rotation's member order for a regular shift and in the override's order
    for an overridden one. ``[]`` when the rotation does not exist, before its start, or
    outside its ShiftCoverages."""
    row = rotations.lookup(conn, rotation_arn)
    if row is None:
        return []
    members = rotations.member_arns(conn, [row.id])[row.id]
    if not members:
        return []
    active = overrides.override_at(conn, row.id, instant)
    return list(on_call_at(members, rotations.recurrence_of(row), row.time_zone,
                           row.start_time, instant, active))


def schedule_on_call(conn: Connection, contact_row_or_plan: Any,
                     instant: float) -> list[tuple[str, str]]:
    """``(rotation ARN, contact ARN)`` for everyone on call at ``instant`` in an
    ONCALL_SCHEDULE contact: the union over its ``Plan.RotationIds``, in the plan's rotation
    order and then each rotation's order. A contact on call in several rotations is listed
    once, with the first of them. Accepts the contact row (its ``plan`` column, JSON text)
    or the plan itself as a dict; a plan without rotations gives ``[]``."""
    plan = contact_row_or_plan
    if not isinstance(plan, Mapping):
        plan = plan.plan
    if isinstance(plan, (str, bytes)):
        plan = orjson.loads(plan)
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for rotation_arn in plan.get("RotationIds") or []:
        for contact_arn in on_call_contacts(conn, rotation_arn, instant):
            if contact_arn not in seen:
                seen.add(contact_arn)
                result.append((rotation_arn, contact_arn))
    return result


__all__ = ["on_call_contacts", "schedule_on_call"]
