"""Property tests of the pipeline: no request, however malformed, gets a 5xx (decisions §2),
and every answer is one that botocore reads.

Malformed bodies go to every one of the model's operations: bodies that are not JSON or not
UTF-8, JSON that is not an object, objects whose members have the operation's names but
values of any type (nested as the input shapes nest, so the checks deep inside a plan are
reached), huge numbers and deep nesting. Valid bodies, drawn from the input shapes with
their constraints, go to the read operations, whose answers must then parse against the
output shape and name only errors the operation models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_contacts import model
from incident_contacts.api.dispatch import Dispatcher
from tests.protocol.helpers import (
    ACCOUNT,
    REGION,
    call,
    check_response,
    dispatcher_for,
    new_runtime,
    ok,
)

OPERATIONS = sorted(model.operation_names())
READ_OPERATIONS = [n for n in OPERATIONS if n.startswith(("Get", "List", "Describe"))]
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


World = tuple[Dispatcher, list[str]]


def _world() -> Iterator[World]:
    """A service holding a few resources, and their ARNs for the valid inputs to name."""
    runtime = new_runtime()
    dispatcher = dispatcher_for(runtime)
    arns: list[str] = []
    for alias, kind in (("akua", "PERSONAL"), ("bongani", "PERSONAL"), ("oncall", "ESCALATION")):
        arns.append(ok(dispatcher, "CreateContact", {
            "Alias": alias, "Type": kind, "Plan": {"Stages": []},
            "Tags": [{"Key": "team", "Value": "sre"}],
        })["ContactArn"])
    for contact, kind, address in ((arns[0], "EMAIL", "akua@example.com"),
                                   (arns[0], "SMS", "+15005550199"),
                                   (arns[1], "VOICE", "+15005550100")):
        arns.append(ok(dispatcher, "CreateContactChannel", {
            "ContactId": contact, "Name": f"{kind.lower()} channel", "Type": kind,
            "DeliveryAddress": {"SimpleAddress": address}, "DeferActivation": True,
        })["ContactChannelArn"])
    ok(dispatcher, "PutContactPolicy", {
        "ContactArn": arns[0],
        "Policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                  '"Principal": {"AWS": "222233334444"}, "Action": "ssm-contacts:GetContact", '
                  '"Resource": "*"}]}',
    })
    yield dispatcher, arns
    runtime.close()


@pytest.fixture(scope="module")
def fuzzed_world() -> Iterator[World]:
    """For the malformed bodies, which may now and then be valid writes (a DeleteContact)."""
    yield from _world()


@pytest.fixture(scope="module")
def read_world() -> Iterator[World]:
    """For the read operations alone, so the resources stay as they were made."""
    yield from _world()


# -- malformed bodies -----------------------------------------------------------------------

_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=20)
            | st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)


def _garbage_like(shape: Any, arns: list[str], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like ``shape`` at some levels, valid at some and anything at all at
    others, so that a body may break one member deep inside and be right everywhere else."""
    if depth > 5:
        return _json
    kind = shape.type_name
    if kind == "structure":
        typed: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {}, optional={n: _garbage_like(m, arns, depth + 1)
                          for n, m in shape.members.items()})
    elif kind == "list":
        typed = st.lists(_garbage_like(shape.member, arns, depth + 1), max_size=4)
    elif kind == "map":
        typed = st.dictionaries(st.text(max_size=6) | st.sampled_from(shape.key.enum or ["k"]),
                                _garbage_like(shape.value, arns, depth + 1), max_size=3)
    elif kind == "string":
        typed = st.text(max_size=40) | _valid(shape, arns) \
            | st.text(min_size=200, max_size=3000)
    elif kind in ("integer", "long", "float", "double", "timestamp"):
        typed = st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
            | _valid(shape, arns)
    else:
        typed = st.booleans()
    return st.one_of(typed, typed, _json)


def _encode(value: Any) -> bytes:
    # The standard encoder writes integers of any size, which orjson refuses to.
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


@st.composite
def _special(draw: st.DrawFn, members: list[str]) -> bytes:
    """Bodies no encoder writes: bad bytes, huge numbers, deep nesting."""
    member = draw(st.sampled_from(members or ["Anything"]))
    kind = draw(st.sampled_from(["bytes", "utf8", "number", "nesting", "nested-object",
                                 "truncated", "trailing", "bom"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80"]))
        return b'{"' + member.encode() + b'": "x' + bad + b'"}'
    if kind == "number":
        digits = draw(st.integers(min_value=19, max_value=5000))
        sign = draw(st.sampled_from(["", "-"]))
        number = draw(st.sampled_from([sign + "9" * digits, f"{sign}1e{digits}",
                                       f"{sign}0.{'0' * digits}1"]))
        return f'{{"{member}": {number}}}'.encode()
    if kind == "nesting":
        depth = draw(st.integers(min_value=1, max_value=3000))
        return f'{{"{member}": {"[" * depth}{"]" * depth}}}'.encode()
    if kind == "nested-object":
        depth = draw(st.integers(min_value=1, max_value=1500))
        return ('{"' + member + '": ' + '{"a": ' * depth + "1" + "}" * depth + "}").encode()
    if kind == "truncated":
        whole = _encode({member: draw(_json)})
        return whole[: draw(st.integers(min_value=0, max_value=max(0, len(whole) - 1)))]
    if kind == "trailing":
        return _encode({member: draw(_json)}) + draw(st.sampled_from([b"}", b",", b" x", b"{}"]))
    return b"\xef\xbb\xbf" + _encode({member: draw(_json)})


def _malformed(operation: str, arns: list[str]) -> st.SearchStrategy[bytes]:
    input_shape = model.operation_model(operation).input_shape
    members = list(input_shape.members) if input_shape is not None else []
    shaped = _garbage_like(input_shape, arns) if input_shape is not None else _json
    not_objects = _json.filter(lambda v: not isinstance(v, dict))
    return st.one_of(shaped.map(_encode), not_objects.map(_encode), _special(members))


@pytest.mark.parametrize("operation", OPERATIONS)
@FUZZ
@given(data=st.data())
def test_malformed_bodies_never_get_a_server_error(fuzzed_world: World, operation: str,
                                                   data: st.DataObject) -> None:
    dispatcher, arns = fuzzed_world
    body = data.draw(_malformed(operation, arns), label="body")
    check_response(operation, call(dispatcher, operation, body))


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) == 39


# -- valid bodies for the read operations -----------------------------------------------------

_CLASS_ONLY = re.compile(r"^\^\[(.*)\]\*\$$")
_CATEGORY = re.compile(r"\\p\{(\w+)\}")


def _class_strategy(pattern: str, low: int, high: int) -> st.SearchStrategy[str] | None:
    """``^[...]*$`` with Unicode categories (``\\p{L}``), which ``re`` cannot read."""
    found = _CLASS_ONLY.match(pattern)
    if found is None or "\\p{" not in pattern:
        return None
    body = found.group(1)
    categories = _CATEGORY.findall(body)
    literal = re.sub(r"\\(.)", r"\1", _CATEGORY.sub("", body))
    alphabet = st.characters(categories=categories, include_characters=literal)
    return st.text(alphabet, min_size=low, max_size=min(high, low + 30))


def _string(shape: Any) -> st.SearchStrategy[str]:
    meta = shape.metadata
    low, high = meta.get("min", 0), meta.get("max", 64)
    if shape.enum:
        return st.sampled_from(shape.enum)
    pattern = meta.get("pattern")
    if pattern is None:
        return st.text(min_size=low, max_size=min(high, low + 30))
    by_class = _class_strategy(pattern, low, high)
    if by_class is not None:
        return by_class
    # What the validator accepts decides (``regex`` and ``re`` differ on ``\w``).
    accepts = regex.compile(pattern).search
    return st.from_regex(pattern, fullmatch=True).filter(
        lambda s: low <= len(s) <= high and accepts(s) is not None)


def _valid(shape: Any, arns: list[str], depth: int = 0) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        optional = {} if depth > 4 else {
            n: _valid(m, arns, depth + 1) for n, m in shape.members.items()
            if n not in shape.required_members
        }
        return st.fixed_dictionaries(
            {n: _valid(shape.members[n], arns, depth + 1) for n in shape.required_members},
            optional=optional,
        )
    if kind == "list":
        low = meta.get("min", 0)
        return st.lists(_valid(shape.member, arns, depth + 1), min_size=low,
                        max_size=min(meta.get("max", 3), low + 3))
    if kind == "map":
        return st.dictionaries(_string(shape.key), _valid(shape.value, arns, depth + 1),
                               max_size=2)
    if kind == "string":
        if shape.name == "SsmContactsArn":
            mine = f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:"
            known = st.sampled_from(arns)
            return st.one_of(known, known, known, known.map(lambda a: a + "x"),
                             st.text("abc-/", max_size=12).map(lambda s: mine + s),
                             _string(shape))
        return _string(shape)
    if kind in ("integer", "long"):
        return st.integers(min_value=meta.get("min", -(2**31)),
                           max_value=meta.get("max", 2**31 - 1))
    if kind in ("float", "double"):
        return st.floats(min_value=meta.get("min"), max_value=meta.get("max"),
                         allow_nan=False, allow_infinity=False)
    if kind == "timestamp":
        return st.integers(min_value=0, max_value=4_102_444_800) | st.floats(
            min_value=0, max_value=4_102_444_800, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"no strategy for {shape.name} ({kind})")


@pytest.mark.parametrize("operation", READ_OPERATIONS)
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_valid_reads_answer_what_the_model_says(read_world: World, operation: str,
                                                data: st.DataObject) -> None:
    dispatcher, arns = read_world
    operation_model = model.operation_model(operation)
    params = data.draw(_valid(operation_model.input_shape, arns), label="params")
    response = call(dispatcher, operation, orjson.dumps(params))
    parsed = check_response(operation, response)
    if response.status >= 300:
        modeled = {shape.name for shape in operation_model.error_shapes}
        assert parsed["Error"]["Code"] in modeled, (operation, params, response.body)


def test_valid_reads_find_the_seeded_resources(read_world: World) -> None:
    """The resources the valid inputs name are there to be found."""
    dispatcher, arns = read_world
    channel = ok(dispatcher, "GetContactChannel", {"ContactChannelId": arns[3]})
    assert channel["DeliveryAddress"] == {"SimpleAddress": "akua@example.com"}
    listed = ok(dispatcher, "ListContacts", {"MaxResults": 2})
    assert [c["Alias"] for c in listed["Contacts"]] == ["akua", "bongani"]
    assert "NextToken" in listed
