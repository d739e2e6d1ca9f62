"""ListRotationShifts and ListPreviewRotationShifts (spec §6.4).

Both run the same pure computation (:func:`incident_contacts.oncall.recurrence.shifts`), so a
preview with a stored rotation's settings gives that rotation's shifts. Shifts keep their true
start and end (the first may begin before ``StartTime``); ``StartTime`` defaults to now, and
``EndTime`` must be after it. A page ends at ``MaxResults`` shifts; its ``NextToken`` carries
the start of the next shift, which no earlier shift overlaps, so the next page computes from
there, and the first page's now, which later pages keep for an absent ``StartTime`` (and a
preview's ``RotationStartTime``). Shifts are computed in growing stretches until the page is
full, and each stretch stops at the shifts the page still needs, so the cost of a page depends
on its length, not on the window's, on how long ago the rotation started, on how many
hand-offs fall in uncovered time, or (beyond laying them out once) on how many overrides
there are. Each stretch loads the stored overrides that overlap the whole shifts
reaching into it (:func:`~incident_contacts.oncall.recurrence.override_span`): an override
just outside a stretch still cuts a shift that crosses its edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from incident_contacts.errors import ValidationException
from incident_contacts.oncall.recurrence import (
    Override,
    OverrideLayer,
    Shift,
    override_span,
    shifts,
)
from incident_contacts.oncall.zones import validate_time_zone
from incident_contacts.service import overrides, pagination, rotations
from incident_contacts.service.context import RequestContext

_FIRST_STRETCH = 8 * 86400.0
Compute = Callable[[float, float, int], list[Shift]]
"""(stretch start, stretch end, at most how many shifts) -> the first shifts of the stretch."""


def list_rotation_shifts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rotation = rotations.find_rotation(ctx, params["RotationId"])
    # The window as the request gave it (StartTime may be absent: the first page's now).
    scope = (f"ListRotationShifts:{rotation.rotation_id}:{params.get('StartTime')!r}:"
             f"{params.get('EndTime')!r}")
    listing = _Listing(ctx, params, scope, keeps_now="StartTime" not in params)
    low, high = listing.window()
    members = rotations.member_arns(ctx.conn, [rotation.id])[rotation.id]
    recurrence = rotations.recurrence_of(rotation)

    def compute(start: float, end: float, limit: int) -> list[Shift]:
        span = override_span(recurrence, rotation.time_zone, rotation.start_time, start, end)
        if span is None:
            return []
        active = overrides.overrides_between(ctx.conn, rotation.id, *span)
        return shifts(members, recurrence, rotation.time_zone, rotation.start_time, start, end,
                      active, limit)

    return listing.page(max(low, rotation.start_time), high, compute)


def list_preview_rotation_shifts(ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
    """Needs no stored resources: ``Members`` are free strings (the model's
    ``RotationPreviewMemberList``), ``RotationStartTime`` defaults to now, and each
    ``Overrides`` entry needs both its StartTime and EndTime, with its NewMembers (absent:
    nobody) drawn from ``Members``. Later overrides win where they overlap."""
    validate_time_zone(params["TimeZoneId"], "TimeZoneId")
    recurrence = rotations.parse_recurrence(params["Recurrence"])
    # The token is bound to everything the shifts depend on: one from another preview
    # (another window, zone or recurrence) is refused rather than starting at its instant.
    asked = {name: value for name, value in params.items()
             if name not in ("NextToken", "MaxResults")}
    listing = _Listing(ctx, params, "ListPreviewRotationShifts:" + orjson.dumps(
        asked, option=orjson.OPT_SORT_KEYS).decode(),
        keeps_now="StartTime" not in params or "RotationStartTime" not in params)
    rotation_start = rotations.check_instant(params.get("RotationStartTime", listing.now),
                                             "RotationStartTime")
    low, high = listing.window()
    members: list[str] = params["Members"]
    active = OverrideLayer([_preview_override(i, o, members)
                            for i, o in enumerate(params.get("Overrides", []))])

    def compute(start: float, end: float, limit: int) -> list[Shift]:
        return shifts(members, recurrence, params["TimeZoneId"], rotation_start, start, end,
                      active, limit)

    return listing.page(max(low, rotation_start), high, compute)


class _Listing:
    """One page of a shift listing. ``now``, which stands for an absent ``StartTime`` (and
    ``RotationStartTime`` of a preview), is the first page's and travels in its tokens
    (``keeps_now``), so later pages continue the same listing however much later they are
    asked for. A listing that gives those times has tokens that depend on nothing else."""

    def __init__(self, ctx: RequestContext, params: dict[str, Any], scope: str, *,
                 keeps_now: bool) -> None:
        self.params, self.scope, self.keeps_now = params, scope, keeps_now
        self.secret = ctx.runtime.secret("pagination")
        self.after = pagination.decode(self.secret, scope, params.get("NextToken"))
        # A token of an older release carries no instant: now stands in, as it did then.
        self.now = float(self.after[1]) if self.after and len(self.after) > 1 else ctx.now()

    def window(self) -> tuple[float, float]:
        low = float(self.params.get("StartTime", self.now))
        high = float(self.params["EndTime"])
        if high <= low:
            raise ValidationException.field("EndTime", "EndTime must be after StartTime.")
        return low, high

    def page(self, low: float, high: float, compute: Compute) -> dict[str, Any]:
        limit = pagination.page_size(self.params)
        if self.after:
            low = float(self.after[0])
        found: list[Shift] = []
        stretch = _FIRST_STRETCH
        while low < high and len(found) <= limit:
            upper = min(high, low + stretch)
            # One more than the page needs, and one for a shift the last stretch gave already.
            for shift in compute(low, upper, limit + 2 - len(found)):
                # The shift running across the stretch boundary comes back in the next one.
                if not found or shift.start >= found[-1].end:
                    found.append(shift)
            low, stretch = upper, stretch * 2
        result: dict[str, Any] = {"RotationShifts": [s.to_wire() for s in found[:limit]]}
        if len(found) > limit:
            key = [found[limit].start, self.now] if self.keeps_now else [found[limit].start]
            result["NextToken"] = pagination.encode(self.secret, self.scope, key)
        return result


def _preview_override(index: int, given: dict[str, Any], members: list[str]) -> Override:
    path = f"Overrides[{index}]"
    for name in ("StartTime", "EndTime"):
        if given.get(name) is None:
            raise ValidationException.field(f"{path}.{name}", "An override needs a time here.")
    start, end = float(given["StartTime"]), float(given["EndTime"])
    if end <= start:
        raise ValidationException.field(f"{path}.EndTime", "An override must end after it starts.")
    new_members: list[str] = given.get("NewMembers") or []
    for position, member in enumerate(new_members):
        if member not in members:
            raise ValidationException.field(
                f"{path}.NewMembers[{position}]", f"{member} is not one of the Members."
            )
    return Override(start, end, tuple(new_members))


__all__ = ["list_preview_rotation_shifts", "list_rotation_shifts"]
