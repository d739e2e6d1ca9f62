"""IAM policy evaluation for ssm-contacts actions: identity policies and contact policies.

The subset of IAM this implements (``spec/decisions.md`` §3 and §5):

* ``Version`` (``2012-10-17`` or ``2008-10-17``, optional), ``Id``, and ``Statement`` as one
  object or a list;
* per statement ``Sid``, ``Effect`` (``Allow`` | ``Deny``), ``Action`` or ``NotAction``,
  ``Resource`` or ``NotResource`` (each a string or a list of strings), and, in resource
  policies, ``Principal``: ``"*"`` or ``{"AWS": ...}`` naming an account id, an account root
  ARN (``arn:aws:iam::123456789012:root``) or a user ARN, one or a list;
* wildcards ``*`` and ``?``: case-insensitive in actions, case-sensitive in resources;
* ``Condition``, with IAM's operators over the request's context keys (``auth.conditions``):
  a statement applies only when every condition holds;
* policy variables (``${aws:username}``, ``${aws:PrincipalAccount, 'default'}``, ``${*}``) in
  ``Resource``/``NotResource`` and condition values, filled from the same keys; what a
  variable stands for is matched literally, and a statement with a variable the request
  cannot fill does not apply.

What it does not evaluate, it treats **fail-closed**: a statement with a ``NotPrincipal``
never grants (an ``Allow`` does not apply) and always refuses when the rest of it matches (a
``Deny`` applies). The same holds for a resource-policy statement that names no principal.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from incident_contacts.auth import conditions
from incident_contacts.auth.conditions import (
    NO_FACTS,
    Condition,
    Facts,
    expand_glob,
    glob,
    has_variables,
)
from incident_contacts.auth.resources import resource_for
from incident_contacts.errors import AccessDeniedException

if TYPE_CHECKING:
    from incident_contacts.auth.credentials import Principal

ACTION_PREFIX = "ssm-contacts:"
VERSIONS = ("2012-10-17", "2008-10-17")

Effect = Literal["Allow", "Deny"]
Reason = Literal[
    "allowed",
    "explicit_deny_identity",
    "explicit_deny_resource",
    "no_identity_allow",
    "no_resource_allow",
]

_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
     "NotPrincipal", "Condition"}
)
_ACCOUNT = re.compile(r"\d{12}")
_ROOT_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::(\d{12}):root")
_IAM_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:(?:iam|sts)::\d{12}:\S+")


def _any_glob(patterns: Iterable[str], value: str, *, ignore_case: bool) -> bool:
    return any(glob(p, ignore_case).fullmatch(value) for p in patterns)


def qualified(action: str) -> str:
    """``GetContact`` → ``ssm-contacts:GetContact``; a qualified action is returned as is."""
    return action if ":" in action else ACTION_PREFIX + action


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    principals: tuple[str, ...] | None
    """``Principal`` entries (``"*"``, account ids, ARNs); None when the element is absent."""
    unsupported: tuple[str, ...] = ()
    """Elements present but not evaluated (``NotPrincipal``): fail closed."""
    sid: str | None = None
    conditions: tuple[Condition, ...] = ()
    variables: bool = False
    """Whether a resource pattern holds a policy variable."""

    def applies(self, action: str, resource: str, principal: Principal | None,
                facts: Facts = NO_FACTS) -> bool:
        """Whether this statement speaks to the request, fail-closed as the module describes.

        ``principal`` is None for an identity policy, whose statements are about their holder;
        ``facts`` are what its conditions test.
        """
        if _any_glob(self.actions, action, ignore_case=True) == self.not_action:
            return False
        if self.variables:
            matched = self._resources_match(resource, facts)
            if matched is None or matched == self.not_resource:
                return False  # a variable the request cannot fill, or no match
        elif _any_glob(self.resources, resource, ignore_case=False) == self.not_resource:
            return False
        if self.unsupported and self.effect == "Allow":
            return False
        if self.conditions and not conditions.all_hold(self.conditions, facts):
            return False
        if principal is None or "NotPrincipal" in self.unsupported:
            return True  # an identity policy's own statement, or a Deny we cannot narrow
        if self.principals is None:
            return self.effect == "Deny"
        return any(_principal_matches(p, principal) for p in self.principals)


    def _resources_match(self, resource: str, facts: Facts) -> bool | None:
        """Whether a pattern, its variables filled, matches; None when one cannot be filled."""
        for pattern in self.resources:
            if not has_variables(pattern):
                if glob(pattern).fullmatch(resource):
                    return True
                continue
            compiled = expand_glob(pattern, facts)
            if compiled is None:
                return None
            if compiled.fullmatch(resource):
                return True
        return False


def _principal_matches(entry: str, principal: Principal) -> bool:
    if entry == "*":
        return True
    if _ACCOUNT.fullmatch(entry):
        return entry == principal.account_id
    root = _ROOT_ARN.fullmatch(entry)
    if root:
        return root.group(1) == principal.account_id
    return entry == principal.arn


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    version: str | None = None

    @functools.cached_property
    def conditional(self) -> bool:
        """Whether a statement has conditions or policy variables (then decisions need the
        request's facts)."""
        return any(s.conditions or s.variables for s in self.statements)

    @classmethod
    def parse(cls, text: str) -> Policy:
        """Parse an IAM policy document; ``ValueError`` says what is wrong and where."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"policy is not valid JSON: {exc}") from None
        except RecursionError:      # "[[[[..." deeper than the parser's stack
            raise ValueError("policy is not valid JSON: it is nested too deeply") from None
        if not isinstance(doc, dict):
            raise ValueError("policy must be a JSON object")
        unknown = set(doc) - {"Version", "Id", "Statement"}
        if unknown:
            raise ValueError(f"policy has unknown elements: {', '.join(sorted(unknown))}")
        version = doc.get("Version")
        if version is not None and version not in VERSIONS:
            raise ValueError(f"policy Version must be one of {', '.join(VERSIONS)}")
        raw = doc.get("Statement")
        if isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise ValueError("policy Statement must be an object or a non-empty list")
        return cls(tuple(_statement(i, s) for i, s in enumerate(raw)), version)

    @property
    def names_principals(self) -> bool:
        """True when a statement has ``Principal``/``NotPrincipal`` (not for identity policies)."""
        return any(s.principals is not None or "NotPrincipal" in s.unsupported
                   for s in self.statements)

    def allows(self, action: str, resource: str, principal: Principal | None = None,
               facts: Facts = NO_FACTS) -> bool:
        """An Allow statement applies. Pass ``principal`` for a resource policy; None means the
        policy is an identity policy, whose statements name no principal. ``facts`` are the
        request's, for conditions (without them every key is absent)."""
        return any(s.effect == "Allow"
                   and s.applies(qualified(action), resource, principal, facts)
                   for s in self.statements)

    def denies(self, action: str, resource: str, principal: Principal | None = None,
               facts: Facts = NO_FACTS) -> bool:
        """A Deny statement applies; ``principal`` and ``facts`` as for :meth:`allows`."""
        return any(s.effect == "Deny"
                   and s.applies(qualified(action), resource, principal, facts)
                   for s in self.statements)


def _strings(where: str, name: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(
        isinstance(v, str) and v for v in values
    ):
        raise ValueError(f"{where}: {name} must be a non-empty string or list of strings")
    return tuple(values)


def _either(where: str, stmt: dict[str, Any], name: str) -> tuple[tuple[str, ...], bool]:
    negated = "Not" + name
    if (name in stmt) == (negated in stmt):
        raise ValueError(f"{where}: exactly one of {name} and {negated} is required")
    key = name if name in stmt else negated
    return _strings(where, key, stmt[key]), key == negated


def _principals(where: str, value: Any) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if not isinstance(value, dict) or not value:
        raise ValueError(f'{where}: Principal must be "*" or an object such as {{"AWS": ...}}')
    entries: list[str] = []
    for kind, names in value.items():
        found = _strings(where, f"Principal.{kind}", names)
        if kind != "AWS":
            continue  # service or federated principals: never an IAM user of ours
        for entry in found:
            if entry != "*" and not _ACCOUNT.fullmatch(entry) and not _IAM_ARN.fullmatch(entry):
                raise ValueError(f"{where}: invalid principal in policy: {entry!r}")
        entries.extend(found)
    return tuple(entries)


def _statement(index: int, stmt: Any) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(stmt, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(stmt) - _STATEMENT_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown elements: {', '.join(sorted(unknown))}")
    effect = stmt.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"{where}: Effect must be 'Allow' or 'Deny'")
    sid = stmt.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise ValueError(f"{where}: Sid must be a string")
    actions, not_action = _either(where, stmt, "Action")
    resources, not_resource = _either(where, stmt, "Resource")
    if "Principal" in stmt and "NotPrincipal" in stmt:
        raise ValueError(f"{where}: Principal and NotPrincipal are exclusive")
    principals = _principals(where, stmt["Principal"]) if "Principal" in stmt else None
    unsupported = ("NotPrincipal",) if "NotPrincipal" in stmt else ()
    tests = conditions.parse(where, stmt["Condition"]) if "Condition" in stmt else ()
    variables = any(has_variables(pattern) for pattern in resources)
    return Statement(effect, actions, not_action, resources, not_resource, principals,
                     unsupported, sid, tests, variables)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason


def evaluate(
    identity_policy: Policy | None,
    principal: Principal,
    action: str,
    resource: str,
    *,
    resource_account: str,
    resource_policy: Policy | None = None,
    facts: Facts = NO_FACTS,
) -> Decision:
    """Decide whether ``principal`` may perform ``action`` (``GetContact`` or
    ``ssm-contacts:GetContact``) on ``resource`` (an ARN or ``*``), owned by ``resource_account``.

    * An explicit deny in either policy wins.
    * Same account: the identity policy decides (None means full access to the own account).
      A resource policy does not widen a same-account caller's rights here.
    * Cross-account: the resource policy must allow this principal (by account id, account root
      ARN, user ARN or ``*``) *and* the identity policy must allow (None allows).
    * Anything not allowed is denied.
    * A statement with conditions applies only when they hold for ``facts``.
    """
    action = qualified(action)
    if identity_policy is not None and identity_policy.denies(action, resource, None, facts):
        return Decision(False, "explicit_deny_identity")
    if resource_policy is not None and resource_policy.denies(action, resource, principal,
                                                              facts):
        return Decision(False, "explicit_deny_resource")
    identity_ok = identity_policy is None or identity_policy.allows(action, resource, None,
                                                                    facts)
    if principal.account_id != resource_account and not (
        resource_policy is not None and resource_policy.allows(action, resource, principal,
                                                               facts)
    ):
        return Decision(False, "no_resource_allow")
    if not identity_ok:
        return Decision(False, "no_identity_allow")
    return Decision(True, "allowed")


def access_denied(
    principal: Principal, action: str, resource: str, decision: Decision | None = None
) -> AccessDeniedException:
    """The AWS-worded refusal; ``decision`` adds AWS's "because ..." / "with ..." tail."""
    action = qualified(action)
    message = (
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource}"
    )
    tails: dict[Reason, str] = {
        "explicit_deny_identity": " with an explicit deny in an identity-based policy",
        "explicit_deny_resource": " with an explicit deny in a resource-based policy",
        "no_identity_allow": f" because no identity-based policy allows the {action} action",
        "no_resource_allow": f" because no resource-based policy allows the {action} action",
    }
    if decision is not None and not decision.allowed:
        message += tails[decision.reason]
    return AccessDeniedException(message)


__all__ = [
    "Decision",
    "Policy",
    "Statement",
    "access_denied",
    "evaluate",
    "qualified",
    "resource_for",
]
