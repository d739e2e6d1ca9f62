"""Who a call acts as, and what a contact policy shares with it.

The authorizer (``api.security``) decides each call with these; ListContacts uses the same
decision to list the contacts of other accounts that are shared with the caller.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from incident_contacts.auth.conditions import facts
from incident_contacts.auth.credentials import Principal
from incident_contacts.auth.policy import Policy, evaluate
from incident_contacts.service.context import Caller

log = logging.getLogger(__name__)


@dataclass
class PrincipalCaller(Caller):
    """A caller together with the IAM principal it acts as."""

    principal: Principal | None = None


def principal_of(caller: Caller) -> Principal:
    if isinstance(caller, PrincipalCaller) and caller.principal is not None:
        return caller.principal
    return _root(caller.account)


def identity_allows(caller: Caller, operation: str, resource: str, now: float) -> bool:
    """Whether the caller's identity policy allows ``operation`` on ``resource`` of its own
    account (always, without a policy): for what has no API operation of its own, such as the
    console's delivery page and the inspection endpoints."""
    principal = principal_of(caller)
    if principal.policy is None:
        return True
    return evaluate(principal.policy, principal, operation, resource,
                    resource_account=caller.account,
                    facts=facts(principal, caller.region, caller.account, now,
                                principal.policy)).allowed


def unrestricted(caller: Caller) -> bool:
    """Whether the caller has full access to its account (no identity policy)."""
    return principal_of(caller).policy is None


@functools.lru_cache(maxsize=4096)
def _root(account: str) -> Principal:
    return Principal.account_root(account)


@functools.lru_cache(maxsize=1024)
def contact_policy(text: str) -> Policy | None:
    """A stored contact policy, read once per text; None for one that cannot be evaluated."""
    try:
        return Policy.parse(text)
    except ValueError as exc:
        # Stored policies are JSON objects with a Statement; one we cannot evaluate grants
        # nothing (fail closed).
        log.warning("a contact policy cannot be evaluated and grants nothing: %s", exc)
        return None


def shared_with(caller: Caller, contact_arn: str, owner: str, policy_text: str,
                now: float, resource_tags: Callable[[], Mapping[str, str]] | None = None
                ) -> bool:
    """Whether another account's contact, under ``policy_text``, is shared with ``caller``:
    whether the caller may GetContact it, decided as the authorizer decides that call
    (``resource_tags`` gives the contact's tags, if a condition asks)."""
    policy = contact_policy(policy_text)
    if policy is None:
        return False
    principal = principal_of(caller)
    return evaluate(principal.policy, principal, "GetContact", contact_arn,
                    resource_account=owner, resource_policy=policy,
                    facts=facts(principal, caller.region, owner, now, principal.policy,
                                policy, request={"ContactId": contact_arn},
                                resource_tags=resource_tags)).allowed


__all__ = ["PrincipalCaller", "contact_policy", "identity_allows", "principal_of", "shared_with",
           "unrestricted"]
