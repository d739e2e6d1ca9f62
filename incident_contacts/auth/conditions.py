"""The ``Condition`` element of IAM policies: its operators, and the request context they test.

A condition block maps operators to keys and values::

    "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.7"]},
                  "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}

Every operator of the block must hold, and within one operator every key; a key holds when
the request's value matches any of the values listed (for the negated operators,
``StringNotEquals`` and the like, when it matches none of them). As AWS documents it, a key
absent from the request makes an operator false, and a negated operator true; ``…IfExists``
holds when the key is absent, and ``Null`` tests only whether the key is there. The set
qualifiers ``ForAnyValue:`` and ``ForAllValues:`` apply to the values of the request's key
(one value for every key this server knows; ``ForAllValues:`` holds when the key is absent).

Operators: ``String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike}``,
``Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals}``,
``Date…`` (the same six), ``Bool``, ``BinaryEquals``, ``IpAddress``, ``NotIpAddress``,
``Arn{Equals,NotEquals,Like,NotLike}``, ``Null``. An operator or value this module cannot read
makes the policy invalid (``ValueError``), so it is refused when it is given, never half-read.

Keys the request context holds (names are case-insensitive, as in IAM):
``aws:PrincipalAccount``, ``aws:PrincipalArn``, ``aws:PrincipalType`` (``User`` or
``Account``), ``aws:username`` (IAM users only), ``aws:RequestedRegion``, ``aws:ResourceAccount``,
``aws:CurrentTime``, ``aws:EpochTime``, ``aws:SourceIp`` and ``aws:SecureTransport`` (requests
that came over HTTP; absent in the in-process mock), ``aws:PrincipalIsAWSService`` and
``aws:ViaAWSService`` (always false). Any other key is absent.

Tags, for attribute-based access control (the part of the key after ``/`` is a tag key, matched
without regard to case, as IAM matches key names):

* ``aws:PrincipalTag/<key>``: the user's tags (``tags`` in the credentials file);
* ``aws:RequestTag/<key>`` and ``aws:TagKeys``: the tags the request sets (``Tags`` of
  CreateContact, CreateRotation and TagResource); ``aws:TagKeys`` is also the keys UntagResource
  removes. A multivalued key: test it with ``ForAnyValue:`` or ``ForAllValues:``;
* ``aws:ResourceTag/<key>``: the tags of the contact or rotation the operation acts on, read
  from the database only when a policy asks (other resources have no tags).
"""

from __future__ import annotations

import base64
import contextvars
import datetime
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from incident_contacts.auth.credentials import Principal

Values = tuple[str, ...]

REQUEST_SCOPE: contextvars.ContextVar[Mapping[str, Any] | None] = \
    contextvars.ContextVar("incident_contacts_request_scope", default=None)
"""The ASGI scope of the HTTP request being served, set by the app; read only when a policy
has conditions (``aws:SourceIp``, ``aws:SecureTransport``)."""


def request_source() -> tuple[str | None, bool] | None:
    """``(client address, over TLS)`` of the HTTP request being served, if any."""
    scope = REQUEST_SCOPE.get()
    if scope is None:
        return None
    client = scope.get("client")
    return (client[0] if client else None, scope.get("scheme") == "https")


class Facts(Protocol):
    """What conditions read: the values of a key, or None when the request has none."""

    def values(self, key: str) -> Values | None: ...


class _NoFacts:
    def values(self, key: str) -> Values | None:
        return None


NO_FACTS: Facts = _NoFacts()
"""For a decision made without a request (every key absent)."""


@dataclass(frozen=True)
class ConditionContext:
    """The facts of one request that conditions may test."""

    principal: Principal
    region: str
    resource_account: str
    now: float
    source: tuple[str | None, bool] | None = None
    request: Mapping[str, Any] | None = None
    """The operation's parameters, for the tags it sets or removes."""
    resource_tags: Callable[[], Mapping[str, str]] | None = None
    """The tags of the resource acted on (asked at most once)."""

    def values(self, key: str) -> Values | None:
        """The request's values of ``key`` (lower-case), or None when it has none."""
        value = _KEYS.get(key)
        if value is not None:
            return value(self)
        kind, slash, tag_key = key.partition("/")
        if slash and kind in _TAG_KEYS:
            tags = _TAG_KEYS[kind](self)
            return _tag(tags, tag_key) if tags is not None else None
        return None


def facts(principal: Principal, region: str, resource_account: str, now: float,
          *policies: Any, request: Mapping[str, Any] | None = None,
          resource_tags: Callable[[], Mapping[str, str]] | None = None) -> Facts:
    """The facts of the request being served, for deciding under ``policies`` (``Policy`` or
    None): gathered only when one of them has conditions. ``resource_tags`` is called only
    when a condition tests ``aws:ResourceTag/...``, and once."""
    if not any(policy is not None and policy.conditional for policy in policies):
        return NO_FACTS
    return ConditionContext(principal, region, resource_account, now, request_source(),
                            request, None if resource_tags is None
                            else functools.cache(resource_tags))


def _tag(tags: Mapping[str, str], key: str) -> Values | None:
    """The values of the tags whose key matches ``key`` without regard to case: tags keep
    their case, so ``Env`` and ``env`` are two, and a condition on ``aws:RequestTag/env``
    tests both (a Deny on either value applies)."""
    found = tuple(value for name, value in tags.items() if name.lower() == key)
    return found or None


def _request_tags(context: ConditionContext) -> Mapping[str, str] | None:
    """The tags the request sets, None when it sets none."""
    given = (context.request or {}).get("Tags")
    if not isinstance(given, list) or not given:
        return None
    found = {}
    for tag in given:
        if isinstance(tag, dict) and isinstance(tag.get("Key"), str):
            found[tag["Key"]] = str(tag.get("Value", ""))
    return found or None


def _tag_keys(context: ConditionContext) -> Values | None:
    tags = _request_tags(context)
    if tags is not None:
        return tuple(tags)
    removed = (context.request or {}).get("TagKeys")
    if isinstance(removed, list) and removed:
        return tuple(key for key in removed if isinstance(key, str)) or None
    return None


def _resource_tags(context: ConditionContext) -> Mapping[str, str] | None:
    return None if context.resource_tags is None else context.resource_tags()


_TAG_KEYS: dict[str, Callable[[ConditionContext], Mapping[str, str] | None]] = {
    "aws:principaltag": lambda c: dict(c.principal.tags),
    "aws:requesttag": _request_tags,
    "aws:resourcetag": _resource_tags,
}


def _username(context: ConditionContext) -> Values | None:
    principal = context.principal
    return None if principal.root else (principal.user,)


def _source_ip(context: ConditionContext) -> Values | None:
    return None if context.source is None or context.source[0] is None \
        else (context.source[0],)


def _secure(context: ConditionContext) -> Values | None:
    return None if context.source is None else (_bool(context.source[1]),)


def _iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_KEYS: dict[str, Callable[[ConditionContext], Values | None]] = {
    "aws:principalaccount": lambda c: (c.principal.account_id,),
    "aws:principalarn": lambda c: (c.principal.arn,),
    "aws:principaltype": lambda c: ("Account" if c.principal.root else "User",),
    "aws:username": _username,
    "aws:requestedregion": lambda c: (c.region,),
    "aws:resourceaccount": lambda c: (c.resource_account,),
    "aws:currenttime": lambda c: (_iso(c.now),),
    "aws:epochtime": lambda c: (str(int(c.now)),),
    "aws:sourceip": _source_ip,
    "aws:securetransport": _secure,
    "aws:principalisawsservice": lambda _c: ("false",),
    "aws:viaawsservice": lambda _c: ("false",),
    "aws:tagkeys": _tag_keys,
}


# -- reading values --------------------------------------------------------------------------


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _text(value: Any) -> str:
    """A condition value as IAM reads JSON: strings as they are, booleans and numbers as text."""
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError(f"condition values are strings, numbers or booleans, not {value!r}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _date(text: str) -> float:
    """Epoch seconds of an ISO 8601 date or time (UTC unless it says), or of a number."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR range") from None


# -- policy variables -------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"\s*([^,\s]+)\s*,\s*'([^']*)'\s*")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def has_variables(text: str) -> bool:
    return "${" in text


def _resolve(inside: str, facts: Facts) -> str | None:
    """The value of ``${inside}``: a special character, the request's value of a key (one
    value), or the default of ``${key, 'default'}``; None when it cannot be resolved."""
    if inside in _SPECIAL:
        return _SPECIAL[inside]
    default = None
    match = _DEFAULT.fullmatch(inside)
    key = inside.strip()
    if match is not None:
        key, default = match.group(1), match.group(2)
    values = facts.values(key.lower())
    if values is not None and len(values) == 1:
        return values[0]
    return default


def expand(text: str, facts: Facts) -> str | None:
    """``text`` with its policy variables replaced, or None when one cannot be resolved
    (AWS: the element then matches nothing)."""
    parts: list[str] = []
    end = 0
    for match in _VARIABLE.finditer(text):
        value = _resolve(match.group(1), facts)
        if value is None:
            return None
        parts += [text[end:match.start()], value]
        end = match.end()
    parts.append(text[end:])
    return "".join(parts)


def _regex(pattern: str, facts: Facts | None, *, arn: bool = False) -> str | None:
    """The regular expression of a wildcard pattern: its ``*`` and ``?`` are wildcards, within
    one ``:`` part in the first five parts of an ARN (``arn``). With ``facts`` its policy
    variables are filled, and what a variable stands for (``${*}`` too) is matched literally;
    None when one cannot be filled. Without, ``${…}`` is text like any other."""
    # Pieces of literal text (and ``?``) between stars; each star is the class it may span.
    pieces: list[list[str]] = [[]]
    stars: list[str] = []
    colons = 0
    end = 0
    matches = [*_VARIABLE.finditer(pattern)] if facts is not None else []
    for match in [*matches, None]:
        for c in pattern[end:match.start() if match else len(pattern)]:
            within = arn and colons < 5
            colons += c == ":"
            if c == "*":
                stars.append("[^:]" if within else ".")
                pieces.append([])
            else:
                pieces[-1].append(("[^:]" if within else ".") if c == "?" else re.escape(c))
        if match is None:
            return _without_backtracking(pieces, stars)
        assert facts is not None
        value = _resolve(match.group(1), facts)
        if value is None:
            return None
        pieces[-1].append(re.escape(value))
        end = match.end()
    raise AssertionError("unreachable")


def _without_backtracking(pieces: list[list[str]], stars: list[str]) -> str:
    """``p0*p1*...*pn`` as an expression that never backtracks into a star: each middle
    piece is taken at its first place (an atomic group), which matches whenever any place
    does, so a match costs O(len(text) x len(pattern)) rather than growing as len(text) to
    the number of stars (``*a*a*a...*b`` against a long alias ran for minutes). Within the
    five ARN parts a star spans no colon, and a piece holding a colon has one place only."""
    regex = ["".join(pieces[0])]
    for star, piece in zip(stars[:-1], pieces[1:-1], strict=True):
        regex.append(f"(?>{star}*?{''.join(piece)})")
    if stars:
        regex.append(f"{stars[-1]}*{''.join(pieces[-1])}")
    return "".join(regex)


@functools.lru_cache(maxsize=4096)
def glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A wildcard pattern (``*``, ``?``) as a compiled expression, read once per pattern."""
    regex = _regex(pattern, None)
    assert regex is not None
    return _compiled(regex, ignore_case)


def expand_glob(pattern: str, facts: Facts, *, ignore_case: bool = False,
                arn: bool = False) -> re.Pattern[str] | None:
    """A wildcard pattern with its policy variables filled from ``facts`` (see ``_regex``);
    None when one cannot be filled."""
    regex = _regex(pattern, facts, arn=arn)
    return None if regex is None else _compiled(regex, ignore_case)


@functools.lru_cache(maxsize=1024)
def _compiled(regex: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# -- operators --------------------------------------------------------------------------------

# An operator's test of one request value against one policy value, after the policy value
# was read once (``prepare``) when the policy was parsed.
Test = Callable[[str, Any], bool]


def _compare(read: Callable[[str], float], check: Callable[[float, float], bool]) -> Test:
    def test(actual: str, expected: Any) -> bool:
        try:
            return check(read(actual), expected)
        except ValueError:
            return False  # the request's value is not of the kind (never for our keys)
    return test


def _in_network(actual: str, network: Any) -> bool:
    try:
        return ipaddress.ip_address(actual) in network
    except ValueError:
        return False


def _binary(actual: str, expected: Any) -> bool:
    return bool(base64.b64encode(actual.encode()).decode() == expected)


def _arn_glob(pattern: str) -> re.Pattern[str]:
    if pattern != "*" and pattern.count(":") < 5:
        raise ValueError(f"{pattern!r} is not an ARN")
    regex = _regex(pattern, None, arn=True)
    assert regex is not None
    return _compiled(regex, False)


@dataclass(frozen=True)
class _Operator:
    test: Test
    prepare: Callable[[str], Any] = str
    negated: bool = False


_OPERATORS: dict[str, _Operator] = {
    "StringEquals": _Operator(lambda a, e: a == e),
    "StringNotEquals": _Operator(lambda a, e: a == e, negated=True),
    "StringEqualsIgnoreCase": _Operator(lambda a, e: a.casefold() == e, str.casefold),
    "StringNotEqualsIgnoreCase": _Operator(lambda a, e: a.casefold() == e, str.casefold,
                                           negated=True),
    "StringLike": _Operator(lambda a, e: e.fullmatch(a) is not None, glob),
    "StringNotLike": _Operator(lambda a, e: e.fullmatch(a) is not None, glob, negated=True),
    "NumericEquals": _Operator(_compare(_number, lambda a, e: a == e), _number),
    "NumericNotEquals": _Operator(_compare(_number, lambda a, e: a == e), _number,
                                  negated=True),
    "NumericLessThan": _Operator(_compare(_number, lambda a, e: a < e), _number),
    "NumericLessThanEquals": _Operator(_compare(_number, lambda a, e: a <= e), _number),
    "NumericGreaterThan": _Operator(_compare(_number, lambda a, e: a > e), _number),
    "NumericGreaterThanEquals": _Operator(_compare(_number, lambda a, e: a >= e), _number),
    "DateEquals": _Operator(_compare(_date, lambda a, e: a == e), _date),
    "DateNotEquals": _Operator(_compare(_date, lambda a, e: a == e), _date, negated=True),
    "DateLessThan": _Operator(_compare(_date, lambda a, e: a < e), _date),
    "DateLessThanEquals": _Operator(_compare(_date, lambda a, e: a <= e), _date),
    "DateGreaterThan": _Operator(_compare(_date, lambda a, e: a > e), _date),
    "DateGreaterThanEquals": _Operator(_compare(_date, lambda a, e: a >= e), _date),
    "Bool": _Operator(lambda a, e: a.lower() == e, str.lower),
    "BinaryEquals": _Operator(_binary),
    "IpAddress": _Operator(_in_network, _network),
    "NotIpAddress": _Operator(_in_network, _network, negated=True),
    # ARNs: AWS matches them part by part; a pattern's wildcards never cross a ':' there, and
    # ArnEquals takes wildcards as ArnLike does.
    "ArnEquals": _Operator(lambda a, e: e.fullmatch(a) is not None, _arn_glob),
    "ArnLike": _Operator(lambda a, e: e.fullmatch(a) is not None, _arn_glob),
    "ArnNotEquals": _Operator(lambda a, e: e.fullmatch(a) is not None, _arn_glob,
                              negated=True),
    "ArnNotLike": _Operator(lambda a, e: e.fullmatch(a) is not None, _arn_glob,
                            negated=True),
}


@dataclass(frozen=True)
class Condition:
    """One key under one operator: ``{"StringEquals": {"aws:RequestedRegion": [...]}}``."""

    operator: str
    key: str          # lower-case
    values: tuple[Any, ...]
    if_exists: bool
    qualifier: str | None   # "ForAnyValue", "ForAllValues" or None
    raw: tuple[str, ...] = ()
    """The values as written, when one holds a policy variable (read at each decision)."""

    def holds(self, context: Facts) -> bool:
        actual = context.values(self.key)
        if self.operator == "Null":
            must_be_absent: bool = self.values[0] == "true"
            return (actual is None) == must_be_absent
        if actual is None:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            negated: bool = _OPERATORS[self.operator].negated
            return negated
        operator = _OPERATORS[self.operator]
        expected_values = self._expanded(context) if self.raw else self.values
        if expected_values is None:
            return False  # a variable the request cannot fill: the statement does not apply

        def one(value: str) -> bool:
            matched = any(operator.test(value, expected) for expected in expected_values)
            return not matched if operator.negated else matched

        if self.qualifier == "ForAllValues":
            return all(one(value) for value in actual)
        return any(one(value) for value in actual)


    def _expanded(self, facts: Facts) -> tuple[Any, ...] | None:
        """The values with their policy variables filled from ``facts``; what a variable
        stands for is matched literally by the ``…Like`` operators."""
        prepare = _OPERATORS[self.operator].prepare
        expanded: list[Any] = []
        for text in self.raw:
            if not has_variables(text):
                expanded.append(prepare(text))
                continue
            if self.operator in ("StringLike", "StringNotLike"):
                pattern = expand_glob(text, facts)
            elif self.operator.startswith("Arn"):
                pattern = expand_glob(text, facts, arn=True)
            else:
                filled = expand(text, facts)
                try:
                    pattern = None if filled is None else prepare(filled)
                except ValueError:
                    pattern = None
            if pattern is None:
                return None
            expanded.append(pattern)
        return tuple(expanded)


def parse(where: str, block: Any) -> tuple[Condition, ...]:
    """The conditions of a statement's ``Condition`` element; ValueError for what cannot be
    evaluated."""
    if not isinstance(block, dict) or not block:
        raise ValueError(f"{where}: Condition must be a non-empty object")
    found: list[Condition] = []
    for name, keys in block.items():
        qualifier, _, bare = name.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise ValueError(f"{where}: unknown condition set qualifier {qualifier!r}")
        if_exists = bare.endswith("IfExists") and bare != "IfExists"
        operator = bare.removesuffix("IfExists") if if_exists else bare
        if operator not in _OPERATORS and operator != "Null":
            raise ValueError(f"{where}: unknown condition operator {name!r}")
        if operator == "Null" and (if_exists or qualifier):
            raise ValueError(f"{where}: {name!r} is not a condition operator")
        if not isinstance(keys, dict) or not keys:
            raise ValueError(f"{where}: Condition.{name} must be a non-empty object")
        for key, given in keys.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"{where}: condition keys are non-empty strings")
            listed = given if isinstance(given, list) else [given]
            if not listed:
                raise ValueError(f"{where}: Condition.{name}.{key} has no values")
            texts = [_text(value) for value in listed]
            raw: tuple[str, ...] = ()
            if operator == "Null":
                if len(texts) != 1 or texts[0].lower() not in ("true", "false"):
                    raise ValueError(f"{where}: Null takes true or false")
                values: tuple[Any, ...] = (texts[0].lower(),)
            elif any(has_variables(text) for text in texts):
                values, raw = (), tuple(texts)   # read when the request fills them
            else:
                values = tuple(_OPERATORS[operator].prepare(text) for text in texts)
            found.append(Condition(operator, key.lower(), values, if_exists,
                                   qualifier or None, raw))
    return tuple(found)


def all_hold(conditions: tuple[Condition, ...], context: Facts) -> bool:
    return all(condition.holds(context) for condition in conditions)


__all__ = ["NO_FACTS", "REQUEST_SCOPE", "Condition", "ConditionContext", "Facts", "all_hold",
           "expand_glob", "facts", "glob", "has_variables", "parse", "request_source"]
