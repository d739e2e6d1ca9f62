"""A rotation's page, and the preview of a rotation form.

A rotation's page shows who is on call for ``SHIFT_DAYS`` days from now (from its start when
that is later), with times in the rotation's time zone; its overrides; its tags; and its
settings in a form that saves them with UpdateRotation. A part of the page the principal may
not read shows the API's refusal in its place.

``POST /console/preview/<action>`` takes a rotation form (a new rotation's, or a rotation's
changed settings) and answers the shifts it would give (ListPreviewRotationShifts, without
overrides), above the form again as it was sent, to change, preview again or save.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from incident_contacts.console import forms
from incident_contacts.console.fields import failed_form
from incident_contacts.console.rotation_forms import (
    preview_params,
    rotation_fields,
    rotation_page,
)
from incident_contacts.service.context import Caller

if TYPE_CHECKING:
    from incident_contacts.console.routes import Console

SHIFT_DAYS = 14
OVERRIDE_DAYS = 365                # overrides listed on a rotation's page, from now on
LISTED = 1024                      # shifts or overrides a page lists at most (MaxResults)


def _items(part: dict[str, Any] | str, member: str) -> list[dict[str, Any]] | str:
    return part if isinstance(part, str) else part[member]


async def rotation(console: Console, request: Request, caller: Caller) -> Response:
    arn = request.query_params.get("arn", "")
    found = await console.call(caller, "GetRotation", RotationId=arn)
    now = console.runtime.clock.now()
    # A rotation given no start started when it was created, which is past.
    started = found.get("StartTime", now)
    since = max(now, started)
    shifts = await console.section(caller, "ListRotationShifts", RotationId=arn,
                                   StartTime=since, EndTime=since + SHIFT_DAYS * 86400,
                                   MaxResults=LISTED)
    overrides = await console.section(caller, "ListRotationOverrides", RotationId=arn,
                                      StartTime=now, EndTime=now + OVERRIDE_DAYS * 86400,
                                      MaxResults=LISTED)
    tags = await console.section(caller, "ListTagsForResource",
                                 ResourceARN=found["RotationArn"])
    failed = failed_form(request)
    shown = (failed.form if failed is not None
             and failed.is_for("update-rotation", found["RotationArn"])
             else rotation_fields(found, caller))  # a form that failed, as it was sent
    fields = {**shown, "arn": found["RotationArn"], "back": rotation_page(found["RotationArn"])}
    listed = _items(shifts, "RotationShifts")
    # Who is on call at this moment (none between the hours on call); unknown before the
    # rotation starts or when its shifts may not be read.
    on_call_now = None if isinstance(listed, str) or started > now else sorted(
        {forms.short(arn) for shift in listed if shift["StartTime"] <= now < shift["EndTime"]
         for arn in shift.get("ContactIds") or ()})
    return console.render(request, "rotation.html", caller=caller, rotation=found,
                          shifts=listed, since=since, on_call_now=on_call_now,
                          until=since + SHIFT_DAYS * 86400,
                          overrides=_items(overrides, "RotationOverrides"),
                          override_days=OVERRIDE_DAYS, tags=tags, f=fields)


async def preview(console: Console, request: Request, caller: Caller) -> Response:
    form = await console.checked_form(request)
    if form is None:
        return console.expired(request, caller)
    action = request.path_params["action"]
    if action not in forms.PREVIEWS:
        return console.render(request, "error.html", status=404, caller=caller,
                              code="NotFound", message="There is no such preview.")
    shifts: list[dict[str, Any]] | str
    since = until = None
    try:
        params = preview_params(form, caller, console.runtime.clock.now(), SHIFT_DAYS)
    except forms.FormError as exc:
        shifts = str(exc)
    else:
        since, until = params["StartTime"], params["EndTime"]
        shifts = _items(await console.section(caller, "ListPreviewRotationShifts", **params),
                        "RotationShifts")
    return console.render(request, "preview.html", caller=caller, action=action, f=form,
                          shifts=shifts, since=since, until=until,
                          zone=form.get("zone", "").strip() or "UTC")


__all__ = ["OVERRIDE_DAYS", "SHIFT_DAYS", "preview", "rotation"]
