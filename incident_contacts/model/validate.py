"""Check a request against every constraint the model states.

botocore checks only required members, JSON types and minimums on the client side, so the
server checks everything: required, type, length and value ranges, patterns, enums and list
sizes. Each broken member becomes one ``Fields`` entry named by its path, e.g.
``Plan.Stages[0].DurationInMinutes`` (spec/decisions.md §2).

Members the model does not know are ignored, as AWS JSON services ignore them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex
from botocore.model import Shape


@dataclass(frozen=True)
class FieldError:
    name: str
    message: str


@functools.cache
def _compiled(pattern: str) -> Any:
    """The model's pattern with ECMA-262 meaning, as AWS's Smithy model means it.

    ``\\w`` is the ASCII word class there (``\\p{..}`` and ``\\s`` stay Unicode), and ``$`` is the
    end of the value, not also the place before a final newline as in Python. Every pattern
    of the model (with the extras file's flattened ARN pattern) runs in linear time, so no
    timeout is needed, and none is used: a timeout would turn a busy machine into a false
    ValidationException.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return regex.compile(_ascii_words(pattern))


@functools.lru_cache(maxsize=4096)
def _matches(pattern: str, value: str) -> bool:
    """Whether ``value`` satisfies the model's ``pattern``. The same ARNs and names come back
    call after call, and a pattern is a pure function of the value: the answer is kept."""
    return _compiled(pattern).search(value) is not None


def _ascii_words(pattern: str) -> str:
    """``\\w`` spelled out as ASCII, inside and outside character classes."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            pair = pattern[index:index + 2]
            if pair == "\\w":
                out.append("A-Za-z0-9_" if in_class else "[A-Za-z0-9_]")
            else:
                out.append(pair)
            index += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def _describe(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    if len(text) > 64:
        text = text[:61] + "..."
    return text


# A check of one value against one shape: (value, its path, the list errors go to).
_Check = Callable[[Any, str, list[FieldError]], None]


def checker(shape: Shape) -> Callable[[Any], list[FieldError]]:
    """The check of a request body (the decoded JSON) against one structure shape: all its
    constraint failures. Made once and run on each request: the shape's constraints are read
    when it is made rather than on every call."""
    check = _structure(shape, {})

    def run(value: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        check(value, "", errors)
        return errors

    return run


def validate_value(shape: Shape, value: Any, path: str) -> list[FieldError]:
    """All constraint failures of one value of any shape (a member checked on its own)."""
    errors: list[FieldError] = []
    _compile(shape, {})(value, path, errors)
    return errors


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _compile(shape: Shape, made: dict[str, _Check]) -> _Check:
    """The check of ``shape``. ``made`` holds the structures, lists and maps already made in
    this compilation by name, so that a shape that contains itself ends."""
    kind = shape.type_name
    if kind in ("structure", "list", "map"):
        known = made.get(shape.name)
        if known is not None:
            return known
        if kind == "structure":
            return _structure(shape, made)
        return _list(shape, made) if kind == "list" else _map(shape, made)
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return _number(shape, "Member must be an integer", int)
    if kind in ("float", "double"):
        return _number(shape, "Member must be a number", (int, float))
    if kind == "boolean":
        return _boolean
    if kind == "timestamp":
        return _timestamp
    if kind == "blob":
        return _blob
    return _anything


def _structure(shape: Shape, made: dict[str, _Check]) -> _Check:
    required = tuple(shape.required_members)
    members: list[tuple[str, _Check]] = []

    def check(value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, dict):
            errors.append(FieldError(path or "body", "Member must be a structure"))
            return
        for name in required:
            if value.get(name) is None:
                errors.append(FieldError(_join(path, name), "Member must not be null"))
        for name, member in members:
            item = value.get(name)
            if item is not None:
                member(item, f"{path}.{name}" if path else name, errors)

    made[shape.name] = check
    members.extend((name, _compile(member, made)) for name, member in shape.members.items())
    return check


def _list(shape: Shape, made: dict[str, _Check]) -> _Check:
    size = _size(shape)
    inner: list[_Check] = []

    def check(value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, list):
            errors.append(FieldError(path, "Member must be a list"))
            return
        size(len(value), path, errors, None)
        item_check = inner[0]
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if item is None:
                errors.append(FieldError(item_path, "Member must not be null"))
            else:
                item_check(item, item_path, errors)

    made[shape.name] = check
    inner.append(_compile(shape.member, made))
    return check


def _map(shape: Shape, made: dict[str, _Check]) -> _Check:
    size = _size(shape)
    key_check = _string(shape.key)
    inner: list[_Check] = []

    def check(value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, dict):
            errors.append(FieldError(path, "Member must be a map"))
            return
        size(len(value), path, errors, None)
        value_check = inner[0]
        for key, item in value.items():
            key_check(key, f"{path}.key", errors)
            item_path = f"{path}.{key}"
            if item is None:
                errors.append(FieldError(item_path, "Member must not be null"))
            else:
                value_check(item, item_path, errors)

    made[shape.name] = check
    inner.append(_compile(shape.value, made))
    return check


def _string(shape: Shape) -> _Check:
    enum = shape.enum
    allowed = frozenset(enum)
    listed = ", ".join(enum)
    size = _size(shape)
    pattern = shape.metadata.get("pattern")

    def check(value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, str):
            errors.append(FieldError(path, "Member must be a string"))
            return
        if enum and value not in allowed:
            errors.append(FieldError(
                path,
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{listed}]",
            ))
            return
        size(len(value), path, errors, value)
        if pattern is not None and not _matches(pattern, value):
            errors.append(FieldError(
                path,
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}",
            ))

    return check


def _size(shape: Shape) -> Callable[[int, str, list[FieldError], Any], None]:
    """The length check of a string, list or map (``value`` is the string, None for the
    others)."""
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    bounds = f"greater than or equal to {low}" if low is not None else ""
    if high is not None:
        bounds = (bounds + " and " if bounds else "") + f"less than or equal to {high}"

    def check(size: int, path: str, errors: list[FieldError], value: Any) -> None:
        if (low is not None and size < low) or (high is not None and size > high):
            shown = f"Value '{_describe(value)}'" if value is not None else "Value"
            errors.append(FieldError(
                path,
                f"{shown} at '{path}' failed to satisfy constraint: "
                f"Member must have length {bounds}",
            ))

    return check


def _number(shape: Shape, wrong_type: str, types: type | tuple[type, ...]) -> _Check:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")

    def check(value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, types) or isinstance(value, bool):
            errors.append(FieldError(path, wrong_type))
        elif low is not None and value < low:
            errors.append(FieldError(
                path,
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}",
            ))
        elif high is not None and value > high:
            errors.append(FieldError(
                path,
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}",
            ))

    return check


def _boolean(value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, bool):
        errors.append(FieldError(path, "Member must be a boolean"))


def _timestamp(value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        errors.append(FieldError(path, "Member must be a timestamp in epoch seconds"))
    elif not -62135596800 <= value <= 253402300799:
        errors.append(FieldError(path, "Member must be a timestamp between years 1 and 9999"))


def _blob(value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, str):
        errors.append(FieldError(path, "Member must be a base64-encoded string"))


def _anything(_value: Any, _path: str, _errors: list[FieldError]) -> None:
    """Shapes the model gives no constraint to check here."""


__all__ = ["FieldError", "checker", "validate_value"]
