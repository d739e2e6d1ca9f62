"""Who is calling and what they may do: the authenticator and guards of the pipeline.

The dispatcher asks an *authenticator* who sent a request, then runs its *guards* before the
operation (``api.dispatch``). This module builds both from the settings (decisions §3, §5):

* ``--auth off`` (the development default): the caller is the account named by the access key
  id, unverified, acting as that account's root (``arn:aws:iam::<account>:root``) with no
  identity policy. ``--auth sigv4``: the request's SigV4 signature is verified against the
  credentials file; the caller is the IAM user holding the key, with its identity policy.
* throttling, in both modes: a token bucket per account and operation class;
* authorization, in both modes: the resource each operation acts on (``auth.resource_for``)
  is judged by the caller's identity policy when it is in the caller's account. A resource of
  another account is reachable only through the policy of the contact it belongs to
  (PutContactPolicy), only for the operations sharing permits (:data:`SHARED_OPERATIONS`), and
  only for that contact, its engagements and its pages (spec §6.5). Everything else of another
  account is refused with AccessDeniedException, in both modes, so one account never sees
  another's contacts, channels or messages.

A decision that needs the database (a contact policy, or a resource's tags for
``aws:ResourceTag`` conditions) is not made by the guard itself: it returns a check the
dispatcher runs in the call's own transaction (``api.dispatch.Check``), so the call is
authorized against the state it is answered from. A read's check reads in the read's
snapshot. In a write on PostgreSQL (READ COMMITTED) the contact policy is read ``FOR SHARE``,
so a PutContactPolicy or DeleteContact of that contact waits for the call to end (or the call
sees what it committed), and TagResource and UntagResource under a tag condition first take the
lock TagResource holds while it changes tags (``service.tags``). Decisions that need nothing
of the database (the common case: one's own account, no tag condition) are made at once,
without a statement.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from incident_contacts import secret_files
from incident_contacts.api.dispatch import Authenticator, Check, Guard
from incident_contacts.auth.conditions import facts
from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.auth.policy import Decision, Policy, access_denied, evaluate
from incident_contacts.auth.principals import PrincipalCaller, contact_policy, principal_of
from incident_contacts.auth.resources import resource_for
from incident_contacts.auth.sigv4 import verify_received
from incident_contacts.auth.throttle import Throttle
from incident_contacts.clock import Clock, WallClock
from incident_contacts.config import Settings
from incident_contacts.runtime import Runtime
from incident_contacts.service import arns
from incident_contacts.service.context import Caller
from incident_contacts.service.tags import tag_map
from incident_contacts.store import locks
from incident_contacts.store.schema.core import contacts
from incident_contacts.store.schema.engagements import engagements, pages

log = logging.getLogger(__name__)

AUTH_MODES: Final = ("off", "sigv4")

SHARED_OPERATIONS: Final = frozenset({
    "GetContact",
    "StartEngagement",
    "StopEngagement",
    "DescribeEngagement",
    "ListPagesByEngagement",
    "ListPagesByContact",
    "DescribePage",
    "ListPageReceipts",
    "ListPageResolutions",
    "AcceptPage",
})
"""What a contact policy can grant another account: viewing the contact, engaging it, and
following its engagements and pages. Its channels (personal data), its policy, its tags, and
changes to it stay with the owner whatever the policy says."""

MAX_CALLERS: Final = 4096
"""Callers kept by the SigV4 authenticator, one per access key and region."""

SHARED_KINDS: Final = {"contact": 1, "engagement": 2, "page": 2}
"""ARN kinds a contact policy covers, with the number of path parts (the first is the alias)."""

TAGGABLE: Final = frozenset({"contact", "rotation"})
"""The kinds of resource that have tags (``aws:ResourceTag/<key>``)."""


class SigV4Authenticator:
    """Verifies the request's signature; the caller is the key's user, in the signed region.

    Headers come as the dispatcher's contract has them (lower-case names, each once), so they
    are verified as they are, without normalising them again."""

    def __init__(self, credentials: CredentialStore, clock: Clock) -> None:
        self.credentials = credentials
        self.clock = clock
        # The caller of each key and region, made once: callers are never changed.
        self._callers: dict[tuple[str, str], PrincipalCaller] = {}

    def __call__(self, method: str, path: str, headers: Mapping[str, str],
                 body: bytes) -> Caller:
        principal, region = verify_received(method, path, headers, body, self.clock.now(),
                                            self.credentials)
        key = (principal.access_key_id, region)
        caller = self._callers.get(key)
        if caller is None or caller.principal is not principal:
            if len(self._callers) >= MAX_CALLERS:
                self._callers.clear()
            caller = self._callers[key] = PrincipalCaller(
                principal.account_id, region, principal.arn, principal=principal)
        return caller


class _NeedsTheDatabase(Exception):
    """Raised inside a decision made before the call's transaction when a condition asks for
    the resource's tags: the decision is then made in the transaction instead."""


def _ask_in_the_transaction() -> dict[str, str]:
    raise _NeedsTheDatabase


_TAGGING: Final = frozenset({"TagResource", "UntagResource"})
"""Writes of tags: under a tag condition they take the tags' lock before reading them."""


class Authorizer:
    """The authorization guard: IAM-style decisions before any operation runs, or, when they
    need the database, at the start of its transaction (the module says how)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, caller: Caller, operation: str, params: dict[str, Any]) -> Check | None:
        principal = principal_of(caller)
        resource = resource_for(operation, params, caller.account, caller.region)
        arn = arns.parse(resource) if resource != "*" else None
        owner = arn.account if arn is not None else caller.account
        if owner == caller.account:
            if principal.policy is None:
                return None                 # full access to one's own account
            if not self._taggable(arn, resource):
                self._own(caller, principal, operation, params, resource, dict)
                return None
            try:
                # Most policies never ask for the tags: decided now, unless one does.
                self._own(caller, principal, operation, params, resource,
                          _ask_in_the_transaction)
            except _NeedsTheDatabase:
                return functools.partial(self._own_in, caller, principal, operation, params,
                                         resource)
            return None
        if operation in SHARED_OPERATIONS and arn is not None and arns.well_formed(resource):
            # Guards run before validation: only an ARN the model allows is looked up.
            return functools.partial(self._shared_in, caller, principal, operation, params,
                                     resource, arn)
        raise access_denied(principal, operation, resource,
                            Decision(False, "no_resource_allow"))

    def _own(self, caller: Caller, principal: Principal, operation: str,
             params: dict[str, Any], resource: str,
             resource_tags: Callable[[], dict[str, str]]) -> None:
        """Decide a call on the caller's own account under its identity policy."""
        policy = principal.policy
        decision = evaluate(policy, principal, operation, resource,
                            resource_account=caller.account,
                            facts=facts(principal, caller.region, caller.account,
                                        self.clock.now(), policy, request=params,
                                        resource_tags=resource_tags))
        if not decision.allowed:
            raise access_denied(principal, operation, resource, decision)

    def _own_in(self, caller: Caller, principal: Principal, operation: str,
                params: dict[str, Any], resource: str, conn: Connection, write: bool) -> None:
        """:meth:`_own` in the call's transaction, the resource's tags read with ``conn``."""
        if write and operation in _TAGGING:
            # The lock TagResource holds while it changes the tags (a no-op on SQLite, whose
            # writers run one at a time): the tags read next are the ones the call changes.
            locks.hold(conn, "tags", resource)
        self._own(caller, principal, operation, params, resource,
                  functools.partial(tag_map, conn, resource))

    def _shared_in(self, caller: Caller, principal: Principal, operation: str,
                   params: dict[str, Any], resource: str, arn: arns.Arn,
                   conn: Connection, write: bool) -> None:
        """Decide a call on another account's resource under its contact's policy, read with
        ``conn`` in the call's transaction."""
        owner = arn.account
        shared = self.contact_policy(conn, arn, lock=write)
        tags: Callable[[], dict[str, str]] = dict
        if self._taggable(arn, resource):
            tags = functools.partial(tag_map, conn, resource)
        decision = evaluate(principal.policy, principal, operation, resource,
                            resource_account=owner, resource_policy=shared,
                            facts=facts(principal, caller.region, owner, self.clock.now(),
                                        principal.policy, shared, request=params,
                                        resource_tags=tags))
        if not decision.allowed:
            raise access_denied(principal, operation, resource, decision)

    @staticmethod
    def _taggable(arn: arns.Arn | None, resource: str) -> bool:
        """Whether the resource acted on may have tags (``aws:ResourceTag/<key>``)."""
        return arn is not None and arn.kind in TAGGABLE and arns.well_formed(resource)

    @staticmethod
    def contact_policy(conn: Connection, arn: arns.Arn, *, lock: bool = False
                       ) -> Policy | None:
        """The policy of the contact a contact, engagement or page ARN belongs to. A page
        belongs to the contact its engagement engaged (its ARN names the person paged, who
        may be a member of a shared escalation plan or schedule): whoever may follow that
        engagement may open and acknowledge its pages.

        ``lock`` (in a write): the contact's row is read ``FOR SHARE`` on PostgreSQL, so its
        policy cannot change until the call's transaction ends."""
        if SHARED_KINDS.get(arn.kind) != len(arn.parts):
            return None
        alias = arn.parts[0]
        if arn.kind == "page":
            engaged = conn.execute(
                sa.select(engagements.c.contact_alias)
                .join(pages, pages.c.engagement_pk == engagements.c.id)
                .where(pages.c.page_id == arn.parts[1], pages.c.account == arn.account,
                       pages.c.region == arn.region, pages.c.contact_alias == alias)
            ).scalar()
            if engaged is None:
                return None
            alias = engaged
        query = sa.select(contacts.c.policy).where(
            contacts.c.account == arn.account,
            contacts.c.region == arn.region,
            contacts.c.alias == alias,
        )
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        text = conn.execute(query).scalar()
        return contact_policy(text) if text else None


def throttle_guard(throttle: Throttle) -> Guard:
    def guard(caller: Caller, operation: str, _params: dict[str, Any]) -> None:
        throttle.acquire(caller.account, operation)

    return guard


def check_settings(settings: Settings) -> None:
    """Refuse settings that cannot work, before anything starts (``ValueError``)."""
    if settings.auth not in AUTH_MODES:
        raise ValueError(f"--auth must be one of {', '.join(AUTH_MODES)}, not {settings.auth!r}")
    if settings.auth == "sigv4" and not settings.credentials_file:
        raise ValueError(
            "--auth sigv4 needs a credentials file: --credentials FILE "
            "(INCIDENT_CONTACTS_CREDENTIALS)"
        )


def load_credentials(settings: Settings, *, checked: bool = False) -> CredentialStore:
    """The credentials file's keys. ``checked`` (the command line): its owner and mode are
    checked on the descriptor it is read from (``secret_files.read``), a ``ValueError`` when
    other users could read or change it."""
    path = settings.credentials_file
    assert path is not None
    try:
        if not checked:
            return CredentialStore.from_file(path)
        raw = secret_files.read(path, "the credentials file")
    except OSError as exc:
        raise ValueError(f"cannot read the credentials file {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8: {exc}") from None
    return CredentialStore.from_toml(text, source=path)


@dataclass(frozen=True)
class Pipeline:
    authenticator: Authenticator | None
    guards: list[Guard]


def pipeline(runtime: Runtime, credentials: CredentialStore | None = None) -> Pipeline:
    """The authenticator and guards the settings ask for; ``credentials`` already read (the
    command line reads the file once, checked), else read from the settings' file."""
    settings = runtime.settings
    check_settings(settings)
    authenticator: Authenticator | None = None
    if settings.auth == "sigv4":
        if credentials is None:
            credentials = load_credentials(settings)
        authenticator = SigV4Authenticator(credentials, WallClock())
        log.info("authentication: SigV4, %d access keys", len(credentials))
    guards: list[Guard] = []
    throttle = Throttle(settings.throttle_rate, settings.throttle_burst, runtime.clock)
    if throttle.enabled:
        guards.append(throttle_guard(throttle))
    guards.append(Authorizer(runtime.clock))
    return Pipeline(authenticator, guards)


__all__ = [
    "AUTH_MODES",
    "SHARED_KINDS",
    "SHARED_OPERATIONS",
    "Authorizer",
    "Pipeline",
    "PrincipalCaller",
    "SigV4Authenticator",
    "check_settings",
    "load_credentials",
    "pipeline",
    "principal_of",
    "throttle_guard",
]
