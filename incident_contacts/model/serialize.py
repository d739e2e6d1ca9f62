"""Shape a handler's result into the operation's output, as AWS sends it.

Members the output shape does not name are dropped, ``None`` members are omitted (AWS never
sends ``null``), and timestamps are epoch seconds to the millisecond, as AWS sends them
(``1621362341.151``): the JavaScript SDK reads an instant to the millisecond and boto3 to the
microsecond, so a finer instant would read as two different times. Handlers build plain dicts
with the model's member names; this is the last guard that nothing else reaches the wire.
"""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

from incident_contacts.clock import to_millisecond


def serialize(shape: Shape | None, value: dict[str, Any]) -> dict[str, Any]:
    if shape is None:
        return {}
    result = _structure(shape, value)
    return result


_SHAPED = frozenset({"structure", "list", "map", "timestamp"})
"""The kinds whose values :func:`_value` shapes; every other value goes out as it is."""


def _structure(shape: Shape, value: dict[str, Any]) -> dict[str, Any]:
    members = shape.members
    out: dict[str, Any] = {}
    for name, item in value.items():
        if item is None:
            continue
        member = members.get(name)
        if member is None:
            continue
        out[name] = _value(member, item) if member.type_name in _SHAPED else item
    return out


def _value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        # Times the clocks date are whole milliseconds already; older records may not be.
        return to_millisecond(value) if type(value) is float else value
    if kind == "structure":
        return _structure(shape, value)
    if kind == "list":
        member = shape.member
        return [_value(member, item) for item in value if item is not None]
    if kind == "map":
        inner = shape.value
        return {k: _value(inner, v) for k, v in value.items() if v is not None}
    return value


__all__ = ["serialize"]
