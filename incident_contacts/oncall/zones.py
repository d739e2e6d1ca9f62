"""Time zones and wall-clock arithmetic for rotations.

Zones always come from the ``tzdata`` package, never the host's ``/usr/share/zoneinfo``, so a
rotation computes the same shifts on every machine.

Wall-clock rules (spec §6.4, step 1; our decision, AWS publishes none):

* A wall time that does not exist (it falls in a DST gap, e.g. 02:30 on the day the clocks
  spring forward) moves *forward* to the first instant that exists: the moment of the
  transition. 02:30 on 10 March 2024 in America/Los_Angeles is 03:00 PDT.
* A wall time that occurs twice (the hour repeated when the clocks fall back) is its *first*
  occurrence (``fold=0``, still on summer time).

Both rules keep wall-to-instant conversion non-decreasing, so hand-offs never run backwards;
two wall times inside the same gap can land on the same instant.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from incident_contacts.errors import ValidationException

DAY = timedelta(days=1)
MINUTES_PER_DAY = 24 * 60

# Area/Location names (and Etc/...), plus UTC which the AWS documentation names explicitly.
_AREA_LOCATION = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)+$")


@cache
def _tzdata_keys() -> frozenset[str]:
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


@cache
def _load(key: str) -> ZoneInfo:
    path = resources.files("tzdata.zoneinfo").joinpath(*key.split("/"))
    with path.open("rb") as handle:
        return ZoneInfo.from_file(handle, key=key)


def validate_time_zone(tz: str, path: str) -> ZoneInfo:
    """The IANA zone named ``tz``, or a ValidationException on the field ``path``.

    Accepted: ``UTC`` and the ``Area/Location`` names of the tzdata database (including
    ``Etc/...``). Rejected, as the AWS documentation says "PST" is not supported: designators and
    legacy names such as ``PST``, ``EST``, ``CET``, ``PST8PDT``, ``GMT`` or ``Japan``, and
    anything tzdata does not know.
    """
    if tz != "UTC" and not (_AREA_LOCATION.match(tz) and tz in _tzdata_keys()):
        raise ValidationException.field(
            path,
            f"Value '{tz}' at '{path}' is not a supported time zone: use an IANA name such as "
            "America/Los_Angeles, Asia/Seoul or UTC.",
        )
    return _load(tz)


def local_date(instant: float, tz: ZoneInfo) -> date:
    """The wall-clock date in ``tz`` at ``instant``."""
    return datetime.fromtimestamp(instant, tz).date()


def wall_instant(day: date, minute: int, tz: ZoneInfo) -> float:
    """The instant of wall time ``day`` + ``minute`` minutes (0-1440) in ``tz``.

    ``minute == 1440`` is midnight at the end of ``day``. Gap and fold rules: module docstring.
    """
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    first = naive.replace(tzinfo=tz).timestamp()
    if datetime.fromtimestamp(first, tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=0 read the time with the offset from before the transition, fold=1 with
    # the offset from after it; the transition lies between the two readings.
    return _transition_between(naive.replace(tzinfo=tz, fold=1).timestamp(), first, tz)


def _transition_between(low: float, high: float, tz: ZoneInfo) -> float:
    """The first whole second in (low, high] whose UTC offset differs from low's."""
    lo, hi = math.floor(low), math.ceil(high)
    before = datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return float(hi)


__all__ = ["DAY", "MINUTES_PER_DAY", "local_date", "validate_time_zone", "wall_instant"]
