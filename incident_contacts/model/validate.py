"""Check a request against every constraint the model states.

botocore checks only required members, JSON types and minimums on the client side, so the
server checks everything: required, type, length and value ranges, patterns, enums and list
sizes. Each broken member becomes one ``Fields`` entry named by its path, e.g.
``Plan.Stages[0].DurationInMinutes`` (spec/decisions.md §2).

Members the model does not know are ignored, as AWS JSON services ignore them.
"""

from __future__ import annotations

import functools
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


def validate(shape: Shape, value: Any) -> list[FieldError]:
    """All constraint failures of ``value`` (the decoded JSON body) against ``shape``."""
    errors: list[FieldError] = []
    _check_structure(shape, value, "", errors)
    return errors


def validate_value(shape: Shape, value: Any, path: str) -> list[FieldError]:
    """All constraint failures of one value of any shape (a member checked on its own)."""
    errors: list[FieldError] = []
    _check(shape, value, path, errors)
    return errors


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _check(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, errors)
    elif kind == "list":
        _check_list(shape, value, path, errors)
    elif kind == "map":
        _check_map(shape, value, path, errors)
    elif kind == "string":
        _check_string(shape, value, path, errors)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(FieldError(path, "Member must be an integer"))
        else:
            _check_range(shape, value, path, errors)
    elif kind in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(FieldError(path, "Member must be a number"))
        else:
            _check_range(shape, value, path, errors)
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(FieldError(path, "Member must be a boolean"))
    elif kind == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(FieldError(path, "Member must be a timestamp in epoch seconds"))
        elif not -62135596800 <= value <= 253402300799:
            errors.append(FieldError(path, "Member must be a timestamp between years 1 and 9999"))
    elif kind == "blob" and not isinstance(value, str):
            errors.append(FieldError(path, "Member must be a base64-encoded string"))


def _check_structure(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, dict):
        errors.append(FieldError(path or "body", "Member must be a structure"))
        return
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(FieldError(_join(path, name), "Member must not be null"))
    for name, member in shape.members.items():
        item = value.get(name)
        if item is not None:
            _check(member, item, _join(path, name), errors)


def _check_list(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, list):
        errors.append(FieldError(path, "Member must be a list"))
        return
    _check_size(shape, len(value), path, errors)
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if item is None:
            errors.append(FieldError(item_path, "Member must not be null"))
        else:
            _check(shape.member, item, item_path, errors)


def _check_map(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, dict):
        errors.append(FieldError(path, "Member must be a map"))
        return
    _check_size(shape, len(value), path, errors)
    for key, item in value.items():
        _check_string(shape.key, key, f"{path}.key", errors)
        item_path = f"{path}.{key}"
        if item is None:
            errors.append(FieldError(item_path, "Member must not be null"))
        else:
            _check(shape.value, item, item_path, errors)


def _check_string(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(value, str):
        errors.append(FieldError(path, "Member must be a string"))
        return
    meta = shape.metadata
    enum = shape.enum
    if enum and value not in enum:
        errors.append(FieldError(
            path,
            f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(enum)}]",
        ))
        return
    _check_size(shape, len(value), path, errors, value)
    pattern = meta.get("pattern")
    if pattern is not None and not _matches(pattern, value):
        errors.append(FieldError(
            path,
            f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}",
        ))


def _check_size(shape: Shape, size: int, path: str, errors: list[FieldError],
                value: Any = None) -> None:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and size < low) or (high is not None and size > high):
        shown = f"Value '{_describe(value)}'" if value is not None else "Value"
        bounds = f"greater than or equal to {low}" if low is not None else ""
        if high is not None:
            bounds = (bounds + " and " if bounds else "") + f"less than or equal to {high}"
        errors.append(FieldError(
            path,
            f"{shown} at '{path}' failed to satisfy constraint: Member must have length {bounds}",
        ))


def _check_range(shape: Shape, value: float, path: str, errors: list[FieldError]) -> None:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
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


__all__ = ["FieldError", "validate", "validate_value"]
