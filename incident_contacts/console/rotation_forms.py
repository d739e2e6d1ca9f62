"""Rotation and override forms: the requests they make, and the values a rotation's form shows.

Contacts are named one a line, in turn: by alias (a contact of the signed-in account and
region) or by ARN (one shared from another account). Times are ``datetime-local`` fields read
in the rotation's time zone. The recurrence is these fields::

    kind=daily|weekly|monthly  weekday=MON  monthday=1  time=09:00     (the first hand-off)
    more=      further hand-offs, one a line: 21:00 (daily), THU 09:00 (weekly), 15 09:00
               (monthly)
    coverage=  hours on call, one a line: MON 09:00-17:00 (24:00 is midnight at the day's end);
               none: every hour (``ShiftCoverages``)
    every=1    days, weeks or months a shift lasts     on-call=1   contacts on call at once

They become ``RecurrenceSettings`` in the order written, so a rotation's form as
:func:`rotation_fields` fills it asks, sent back unchanged, for the recurrence the rotation
has. An update form also carries the start and time zone it showed (``start-shown``,
``zone-shown``): while neither is changed, UpdateRotation leaves ``StartTime`` out, and the
rotation keeps its start to the fraction of a second, which the form's field may not show.
The form of a rotation given no start (GetRotation leaves ``StartTime`` out; it started when
it was created) shows the start empty, and sends ``StartTime`` only once one is filled in.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from incident_contacts.console.fields import WHOLE, Action, FormError, confirmed, count
from incident_contacts.service import arns
from incident_contacts.service.context import Caller

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
NEW_ROTATION = {"zone": "UTC", "kind": "daily", "weekday": "MON", "monthday": "1",
                "time": "09:00", "every": "1", "on-call": "1"}
"""What the form for a new rotation shows."""
PREVIEW_SHIFTS = 1024             # shifts a preview lists at most (the model's MaxResults)

_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_COVERAGE = re.compile(r"([A-Za-z]{3})\s+([0-9:]+)\s*-\s*([0-9:]+)")


def rotation_page(arn: str) -> str:
    return "/console/rotation?" + urlencode({"arn": arn})


# -- reading the form ------------------------------------------------------------------------


def members_of(form: Mapping[str, str], caller: Caller, name: str = "members") -> list[str]:
    """Contacts, one a line, in turn: an alias of the caller's account and region, or an ARN
    (a contact shared from another account)."""
    return [line if line.startswith("arn:")
            else arns.contact_arn(caller.region, caller.account, line)
            for line in _lines(form, name)]


def _lines(form: Mapping[str, str], name: str) -> list[str]:
    return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]


def _zone(form: Mapping[str, str]) -> tuple[str, zoneinfo.ZoneInfo]:
    name = form.get("zone", "").strip() or "UTC"
    try:
        return name, zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):   # OSError: "America/"
        raise FormError(f"{name!r} is not a time zone (an IANA name, as Europe/Berlin)."
                        ) from None


def _moment(form: Mapping[str, str], name: str, what: str, zone: zoneinfo.ZoneInfo) -> float:
    """A ``datetime-local`` field (``2026-03-01T09:00``) read in ``zone``, as epoch seconds."""
    value = form.get(name, "").strip()
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise FormError(f"{what} is a date and a time, as 2026-03-01T09:00.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _clock(value: str, what: str) -> dict[str, int]:
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        raise FormError(f"{what} is hours and minutes, as 09:00.")
    return {"HourOfDay": int(match.group(1)), "MinuteOfHour": int(match.group(2))}


def _weekday(value: str, what: str) -> str:
    if value.upper() not in WEEKDAYS:
        raise FormError(what)
    return value.upper()


def _hand_offs(form: Mapping[str, str], kind: str) -> list[Any]:
    """The first hand-off (its own fields), then the ``more`` lines, in order."""
    time = _clock(form.get("time", ""), "The hand-off time")
    if kind == "weekly":
        day = _weekday(form.get("weekday", ""), "Choose the day of the week of the hand-off.")
        settings: list[Any] = [{"DayOfWeek": day, "HandOffTime": time}]
    elif kind == "monthly":
        settings = [{"DayOfMonth": count(form, "monthday", "The day of the month"),
                     "HandOffTime": time}]
    else:
        settings = [time]
    for line in _lines(form, "more"):
        what = f"The further hand-off {line!r}"
        words = line.split()
        if kind == "daily" and len(words) == 1:
            settings.append(_clock(words[0], what))
        elif kind == "weekly" and len(words) == 2:
            day = _weekday(words[0], f"{what} is a day of the week and a time, as THU 09:00.")
            settings.append({"DayOfWeek": day, "HandOffTime": _clock(words[1], what)})
        elif kind == "monthly" and len(words) == 2 and WHOLE.fullmatch(words[0]):
            settings.append({"DayOfMonth": int(words[0]), "HandOffTime": _clock(words[1], what)})
        else:
            example = {"daily": "a time, as 21:00", "weekly": "a day and a time, as THU 09:00",
                       "monthly": "a day of the month and a time, as 15 09:00"}[kind]
            raise FormError(f"{what} is {example}.")
    return settings


def _coverage(form: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """``ShiftCoverages`` from lines such as ``MON 09:00-17:00``, by day in the order first
    written; ``24:00`` is midnight at the end of the day (an End of 00:00)."""
    coverage: dict[str, list[dict[str, Any]]] = {}
    for line in _lines(form, "coverage"):
        what = f"The hours on call {line!r}"
        match = _COVERAGE.fullmatch(line)
        if match is None or match.group(1).upper() not in WEEKDAYS:
            raise FormError(f"{what} are a day and two times, as MON 09:00-17:00.")
        end = "00:00" if match.group(3) == "24:00" else match.group(3)
        coverage.setdefault(match.group(1).upper(), []).append(
            {"Start": _clock(match.group(2), what), "End": _clock(end, what)})
    return coverage


def _recurrence(form: Mapping[str, str]) -> dict[str, Any]:
    kind = form.get("kind", "daily")
    if kind not in ("weekly", "monthly"):
        kind = "daily"
    recurrence: dict[str, Any] = {
        "NumberOfOnCalls": count(form, "on-call", "The number of contacts on call"),
        "RecurrenceMultiplier": count(form, "every", "How many days, weeks or months a shift "
                                                     "lasts"),
        f"{kind.capitalize()}Settings": _hand_offs(form, kind),
    }
    coverage = _coverage(form)
    if coverage:
        recurrence["ShiftCoverages"] = coverage
    return recurrence


def settings_of(form: Mapping[str, str], caller: Caller) -> dict[str, Any]:
    """What a rotation form asks for: ``ContactIds``, ``TimeZoneId``, ``StartTime`` and
    ``Recurrence``, as CreateRotation and UpdateRotation name them. ``StartTime`` is left out
    when the form of a rotation given no start (its ``start-shown`` empty) leaves it empty."""
    name, zone = _zone(form)
    settings: dict[str, Any] = {"ContactIds": members_of(form, caller), "TimeZoneId": name}
    if form.get("start", "").strip() or form.get("start-shown") != "":
        settings["StartTime"] = _moment(form, "start", "The start", zone)
    settings["Recurrence"] = _recurrence(form)
    return settings


def preview_params(form: Mapping[str, str], caller: Caller, now: float,
                   days: int) -> dict[str, Any]:
    """ListPreviewRotationShifts for what a rotation form asks: ``days`` of shifts from now,
    or from the start when that is later. Overrides are not part of a preview. Without a
    start the shifts are counted from now (a rotation given none counts them from when it was
    created, which the API does not tell)."""
    settings = settings_of(form, caller)
    start = max(now, settings.get("StartTime", now))
    params = {"Members": settings["ContactIds"], "TimeZoneId": settings["TimeZoneId"],
              "Recurrence": settings["Recurrence"], "StartTime": start,
              "EndTime": start + days * 86400, "MaxResults": PREVIEW_SHIFTS}
    if "StartTime" in settings:
        params["RotationStartTime"] = settings["StartTime"]
    return params


# -- the actions ------------------------------------------------------------------------------


def create_rotation(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("CreateRotation",
                  {"Name": form.get("name", "").strip(), **settings_of(form, caller)},
                  "The rotation is created.",
                  then=lambda answer: rotation_page(answer["RotationArn"]))


def update_rotation(form: Mapping[str, str], caller: Caller) -> Action:
    """UpdateRotation with every setting of the form; ``StartTime`` only when the start or the
    zone differs from what the form showed (and never while the start is left empty)."""
    settings = settings_of(form, caller)
    if (form.get("start", "").strip() == form.get("start-shown")
            and settings["TimeZoneId"] == form.get("zone-shown")):
        settings.pop("StartTime", None)
    return Action("UpdateRotation", {"RotationId": form.get("arn", ""), **settings},
                  "The rotation is saved.")


def delete_rotation(form: Mapping[str, str], caller: Caller) -> Action:
    confirmed(form, "rotation")
    return Action("DeleteRotation", {"RotationId": form.get("arn", "")},
                  "The rotation is deleted.", then=lambda _answer: "/console/rotations")


def create_override(form: Mapping[str, str], caller: Caller) -> Action:
    _name, zone = _zone(form)
    return Action("CreateRotationOverride",
                  {"RotationId": form.get("arn", ""),
                   "NewContactIds": members_of(form, caller),
                   "StartTime": _moment(form, "start", "The start", zone),
                   "EndTime": _moment(form, "end", "The end", zone)},
                  "The override is created.")


def delete_override(form: Mapping[str, str], caller: Caller) -> Action:
    confirmed(form, "override")
    return Action("DeleteRotationOverride",
                  {"RotationId": form.get("arn", ""),
                   "RotationOverrideId": form.get("override", "")},
                  "The override is deleted.")


# -- showing a rotation in its form -----------------------------------------------------------


def rotation_fields(rotation: Mapping[str, Any], caller: Caller) -> dict[str, str]:
    """The fields of a rotation's form, filled from GetRotation's answer; sent back as they
    are, they ask for the rotation as it is (see the module's docstring)."""
    zone = rotation["TimeZoneId"]
    given = rotation.get("StartTime")   # none: it started when it was created
    start = "" if given is None else shown_time(given, zone)
    recurrence = rotation["Recurrence"]
    fields = {**NEW_ROTATION, "name": rotation["Name"], "zone": zone, "start": start,
              "zone-shown": zone, "start-shown": start,
              "members": "\n".join(_member_line(arn, caller) for arn in rotation["ContactIds"]),
              "every": str(recurrence["RecurrenceMultiplier"]),
              "on-call": str(recurrence["NumberOfOnCalls"])}
    more: list[str] = []
    if recurrence.get("WeeklySettings"):
        first, *rest = recurrence["WeeklySettings"]
        fields.update(kind="weekly", weekday=first["DayOfWeek"],
                      time=_clock_text(first["HandOffTime"]))
        more = [f"{s['DayOfWeek']} {_clock_text(s['HandOffTime'])}" for s in rest]
    elif recurrence.get("MonthlySettings"):
        first, *rest = recurrence["MonthlySettings"]
        fields.update(kind="monthly", monthday=str(first["DayOfMonth"]),
                      time=_clock_text(first["HandOffTime"]))
        more = [f"{s['DayOfMonth']} {_clock_text(s['HandOffTime'])}" for s in rest]
    elif recurrence.get("DailySettings"):
        first, *rest = recurrence["DailySettings"]
        fields.update(kind="daily", time=_clock_text(first))
        more = [_clock_text(s) for s in rest]
    fields["more"] = "\n".join(more)
    fields["coverage"] = "\n".join(
        f"{day} {_clock_text(window.get('Start'))}-{_clock_text(window.get('End'), end=True)}"
        for day, windows in (recurrence.get("ShiftCoverages") or {}).items()
        for window in windows or ())
    return fields


def _member_line(arn: str, caller: Caller) -> str:
    """A member as the form names it: its alias when that names the same contact."""
    alias = arn.rpartition("/")[2]
    return alias if arns.contact_arn(caller.region, caller.account, alias) == arn else arn


def _clock_text(hand_off: Mapping[str, int] | None, end: bool = False) -> str:
    """``HH:MM``; a coverage End that is absent or 00:00 is 24:00, the day's end."""
    hour, minute = ((hand_off["HourOfDay"], hand_off["MinuteOfHour"]) if hand_off
                    else (0, 0))
    if end and hour == minute == 0:
        return "24:00"
    return f"{hour:02d}:{minute:02d}"


def shown_time(moment: float, zone: str) -> str:
    """Epoch seconds as a ``datetime-local`` value in ``zone``: minutes, and seconds when
    there are any."""
    local = datetime.datetime.fromtimestamp(moment, zoneinfo.ZoneInfo(zone))
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")


__all__ = ["NEW_ROTATION", "WEEKDAYS", "create_override", "create_rotation", "delete_override",
           "delete_rotation", "members_of", "preview_params", "rotation_fields", "settings_of",
           "shown_time", "update_rotation"]
