"""Account isolation, operation by operation (decisions §3): one account never sees another's
data, and a request naming another account's resource gets the answer a resource that does
not exist gets, and changes nothing.

Account A builds one of every resource (``isolation_world.build``); account B, which has a
world of its own built with the same idempotency tokens and the same PERSONAL alias, then
calls every operation of the operation table with A's identifiers, spelled four ways:

* ``arn``: A's own ARNs under B's credentials;
* ``rebased``: A's aliases and ids inside ARNs of B's account (B has a contact of that alias);
* ``bare``: the alias or id alone, not an ARN;
* ``region``: A's ARNs, called by A itself from another region.

Each call is compared with the same call naming resources that do not exist (fresh ids, and
fresh aliases where the account is A's): the same error code, status, modeled members and
message, so nothing tells B whether A's resource exists. After the whole matrix, everything A
can read of its world, and its outbox, is as it was.

The operation list is the model's: an operation added to the model without a row in
:data:`ATTACKS` fails :func:`test_every_operation_is_attacked`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from incident_contacts.api.operations import OPERATIONS
from incident_contacts.auth.resources import resource_for
from incident_contacts.model import operation_names
from tests.conftest import Backend, new_account
from tests.security.isolation_world import (
    DAILY,
    DAY,
    TOKENS,
    UUID,
    Outcome,
    World,
    bare,
    build,
    call,
    ghost,
    normalised,
    outcome,
    placeholders_of,
    rebase,
    snapshot,
)
from tests.security.support import ADMIN, BOB, REGION, User, start_sigv4
from tests.security.support import client as signed_client
from tests.security.support import messages as signed_messages
from tests.support.server import ServerProcess

Attack = tuple[str, dict[str, Any]]
"""A label and the parameters of one call."""


def _window(a: World) -> dict[str, float]:
    low, high = a.window
    return {"StartTime": low, "EndTime": high}


def _plan_to(target: dict[str, Any]) -> dict[str, Any]:
    return {"Stages": [{"DurationInMinutes": 5, "Targets": [target]}]}


def _contact_target(arn: str) -> dict[str, Any]:
    return {"ContactTargetInfo": {"ContactId": arn, "IsEssential": False}}


def _channel_target(arn: str) -> dict[str, Any]:
    return {"ChannelTargetInfo": {"ContactChannelId": arn, "RetryIntervalInMinutes": 1}}


def _policy_for(account: str, resource: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": account}, "Action": "ssm-contacts:*",
        "Resource": resource}]})


# Each row: the calls of that operation that name A's resources (``a``); ``b`` is the
# caller's own world, for operations that act on one's own resource and name A's inside.
ATTACKS: dict[str, Callable[[World, World], list[Attack]]] = {
    "AcceptPage": lambda a, b: [
        ("read", {"PageId": a["page"], "AcceptType": "READ", "AcceptCode": "123456"}),
        ("delivered", {"PageId": a["page"], "AcceptType": "DELIVERED",
                       "AcceptCode": "123456", "AcceptCodeValidation": "ENFORCE"}),
        ("own page, their channel", {"PageId": b["page"], "AcceptType": "READ",
                                     "AcceptCode": "123456", "ContactChannelId": a["channel"]}),
    ],
    "ActivateContactChannel": lambda a, b: [
        ("", {"ContactChannelId": a["channel"], "ActivationCode": "123456"})],
    "CreateContact": lambda a, b: [
        ("escalation to their contact", {"Alias": "x-esc", "Type": "ESCALATION",
                                         "Plan": _plan_to(_contact_target(a["person"]))}),
        ("escalation to their schedule", {"Alias": "x-esc", "Type": "ESCALATION",
                                          "Plan": _plan_to(_contact_target(a["schedule"]))}),
        ("personal on their channel", {"Alias": "x-per", "Type": "PERSONAL",
                                       "Plan": _plan_to(_channel_target(a["channel"]))}),
        ("schedule of their rotation", {"Alias": "x-sch", "Type": "ONCALL_SCHEDULE",
                                        "Plan": {"Stages": [], "RotationIds": [a["rotation"]]}}),
    ],
    "CreateContactChannel": lambda a, b: [
        ("", {"ContactId": a["person"], "Name": "thief", "Type": "EMAIL",
              "DeliveryAddress": {"SimpleAddress": "thief@example.com"}})],
    "CreateRotation": lambda a, b: [
        ("", {"Name": "thief", "ContactIds": [a["person"]], "TimeZoneId": "UTC",
              "Recurrence": DAILY}),
        ("mixed", {"Name": "thief", "ContactIds": [b["person"], a["person"]],
                   "TimeZoneId": "UTC", "Recurrence": DAILY}),
    ],
    "CreateRotationOverride": lambda a, b: [
        ("their rotation", {"RotationId": a["rotation"], "NewContactIds": [a["person"]],
                            **_window(a)}),
        ("own rotation", {"RotationId": b["rotation"], "NewContactIds": [a["person"]],
                          **_window(a)}),
    ],
    "DeactivateContactChannel": lambda a, b: [("", {"ContactChannelId": a["channel"]})],
    "DeleteContact": lambda a, b: [(k, {"ContactId": a[k]})
                                   for k in ("person", "escalation", "schedule")],
    "DeleteContactChannel": lambda a, b: [("", {"ContactChannelId": a["channel"]})],
    "DeleteRotation": lambda a, b: [("", {"RotationId": a["rotation"]})],
    "DeleteRotationOverride": lambda a, b: [
        ("their rotation", {"RotationId": a["rotation"], "RotationOverrideId": a["override"]}),
        ("own rotation", {"RotationId": b["rotation"], "RotationOverrideId": a["override"]}),
    ],
    "DescribeEngagement": lambda a, b: [("", {"EngagementId": a["engagement"]})],
    "DescribePage": lambda a, b: [("", {"PageId": a["page"]})],
    "GetContact": lambda a, b: [(k, {"ContactId": a[k]})
                                for k in ("person", "escalation", "schedule")],
    "GetContactChannel": lambda a, b: [("", {"ContactChannelId": a["channel"]})],
    "GetContactPolicy": lambda a, b: [("", {"ContactArn": a["person"]})],
    "GetRotation": lambda a, b: [("", {"RotationId": a["rotation"]})],
    "GetRotationOverride": lambda a, b: [
        ("their rotation", {"RotationId": a["rotation"], "RotationOverrideId": a["override"]}),
        ("own rotation", {"RotationId": b["rotation"], "RotationOverrideId": a["override"]}),
    ],
    "ListContactChannels": lambda a, b: [("", {"ContactId": a["person"]})],
    "ListContacts": lambda a, b: [("", {}), ("prefix", {"AliasPrefix": a.alias[:6]})],
    "ListEngagements": lambda a, b: [("", {}), ("window", {"TimeRangeValue": {
        "StartTime": a.start - DAY, "EndTime": time.time() + DAY}}),
        ("incident", {"IncidentId": f"{a.alias}-incident"})],
    "ListPageReceipts": lambda a, b: [("", {"PageId": a["page"]})],
    "ListPageResolutions": lambda a, b: [("", {"PageId": a["page"]})],
    "ListPagesByContact": lambda a, b: [("", {"ContactId": a["person"]})],
    "ListPagesByEngagement": lambda a, b: [("", {"EngagementId": a["engagement"]})],
    "ListPreviewRotationShifts": lambda a, b: [
        ("", {"Members": [a["person"]], "TimeZoneId": "UTC", "Recurrence": DAILY,
              "RotationStartTime": a.start, "StartTime": a.start,
              "EndTime": a.start + 2 * DAY})],
    "ListRotationOverrides": lambda a, b: [
        ("", {"RotationId": a["rotation"], "StartTime": a.start, "EndTime": a.start + 5 * DAY})],
    "ListRotationShifts": lambda a, b: [
        ("", {"RotationId": a["rotation"], "StartTime": a.start, "EndTime": a.start + 2 * DAY})],
    "ListRotations": lambda a, b: [("", {}), ("prefix", {"RotationNamePrefix": a.alias})],
    "ListTagsForResource": lambda a, b: [(k, {"ResourceARN": a[k]})
                                         for k in ("person", "rotation")],
    "PutContactPolicy": lambda a, b: [
        ("", {"ContactArn": a["person"], "Policy": _policy_for(b.account, a["person"])})],
    "SendActivationCode": lambda a, b: [("", {"ContactChannelId": a["channel"]})],
    "StartEngagement": lambda a, b: [
        (k, {"ContactId": a[k], "Sender": "thief", "Subject": "s", "Content": "c"})
        for k in ("person", "escalation", "schedule")],
    "StopEngagement": lambda a, b: [("", {"EngagementId": a["engagement"], "Reason": "x"})],
    "TagResource": lambda a, b: [(k, {"ResourceARN": a[k], "Tags": [
        {"Key": "team", "Value": "thief"}]}) for k in ("person", "rotation")],
    "UntagResource": lambda a, b: [(k, {"ResourceARN": a[k], "TagKeys": ["team"]})
                                   for k in ("person", "rotation")],
    "UpdateContact": lambda a, b: [
        ("name", {"ContactId": a["person"], "DisplayName": "stolen"}),
        ("own escalation to theirs", {"ContactId": b["escalation"],
                                      "Plan": _plan_to(_contact_target(a["person"]))}),
        ("own person on their channel", {"ContactId": b["person"],
                                         "Plan": _plan_to(_channel_target(a["channel"]))}),
        ("own schedule on their rotation", {"ContactId": b["schedule"], "Plan": {
            "Stages": [], "RotationIds": [a["rotation"]]}}),
    ],
    "UpdateContactChannel": lambda a, b: [
        ("", {"ContactChannelId": a["channel"], "Name": "stolen",
              "DeliveryAddress": {"SimpleAddress": "thief@example.com"}})],
    "UpdateRotation": lambda a, b: [
        ("their rotation", {"RotationId": a["rotation"], "Recurrence": DAILY}),
        ("own rotation, their member", {"RotationId": b["rotation"],
                                        "ContactIds": [a["person"]], "Recurrence": DAILY}),
    ],
}

LISTINGS = frozenset({"ListContacts", "ListEngagements", "ListRotations",
                      "ListPreviewRotationShifts"})
"""Operations that name no resource of their own: they answer, with the caller's data only."""

REFUSALS = frozenset({"AccessDeniedException", "ResourceNotFoundException",
                      "ValidationException"})


def test_every_operation_is_attacked() -> None:
    assert set(ATTACKS) == set(OPERATIONS) == set(operation_names())
    assert len(ATTACKS) == 39


def _worlds(backend: Backend) -> tuple[Any, Any, World, World]:
    """Accounts A and B, each with a world; B's PERSONAL contact has A's alias."""
    other = new_account()
    a_client, b_client = backend.client(), backend.client(account=other)
    start = float(int(time.time()) // 3600 * 3600 - DAY)
    alias = f"iso-{uuid.uuid4().hex[:8]}"
    a = build(backend, a_client, backend.account, alias, start)
    b = build(backend, b_client, other, alias, start)
    return a_client, b_client, a, b


def _account_of(client: Any) -> str:
    key: str = client._request_signer._credentials.access_key
    return {ADMIN.key: ADMIN.account, BOB.key: BOB.account}.get(key, key)


def _leaks(answer: Any, a: World, request: dict[str, Any]) -> list[str]:
    """A's account and ids in an answer, but for what the request gave itself (a preview
    echoes the members it was given). A's alias is B's alias too: not a sign."""
    text, asked = json.dumps(answer, default=str), json.dumps(request, default=str)
    return [t for t in (f":{a.account}:", *sorted(a.tokens()))
            if t in text and t not in asked and not t.startswith(a.alias)]


def _compare(label: str, real: Outcome, spectre: Outcome, a: World, spectre_world: World,
             renamed: dict[str, str], b: World) -> None:
    # The caller's own identifiers (whole) are the same in both calls: named first, as they
    # may hold A's alias too.
    own = {value: f"<own {key}>" for key, value in b.ids.items()}
    shown = {**placeholders_of(a.tokens()), **own}
    hidden = {**placeholders_of(a.tokens(), renamed), **own}
    assert real.code is not None, f"{label}: answered {real.answer}"
    assert real.code in REFUSALS, f"{label}: {real}"
    assert normalised(real, a, shown) == normalised(spectre, spectre_world, hidden), (
        f"{label}: A's resource is told from a missing one:\n  real:  {real}\n"
        f"  ghost: {spectre}")
    if real.code == "ResourceNotFoundException":
        assert {"ResourceId", "ResourceType"} <= set(real.members), f"{label}: {real}"


def _attack_all(caller: Any, a: World, b: World, *, aliases: bool, label: str,
                ids_only: bool = False) -> int:
    """Every attack of :data:`ATTACKS` against ``a`` (as spelled), each compared with the
    same call on a ghost of ``a``; the number of calls."""
    spectre, renamed = ghost(a, aliases=aliases)
    calls = 0
    for operation in sorted(ATTACKS):
        for (name, params), (_, ghost_params) in zip(ATTACKS[operation](a, b),
                                                     ATTACKS[operation](spectre, b),
                                                     strict=True):
            where = f"{label} {operation} {name}".strip()
            if ids_only and not any(t in json.dumps(params) for t in a.tokens()
                                    if UUID.fullmatch(t)):
                continue    # names contacts by alias only: in B's account, B's own
            real = outcome(caller, operation, params)
            calls += 1
            if operation in LISTINGS:
                assert real.code is None, f"{where}: {real}"
                assert not _leaks(real.answer, a, params), f"{where}: {real.answer}"
                continue
            spectral = outcome(caller, operation, ghost_params)
            calls += 1
            named = resource_for(operation, params, "", "")
            if named.startswith("arn:") and named.split(":")[4] not in (
                    _account_of(caller), ""):
                # The resource the operation acts on is another account's: IAM refuses it
                # (api.security) before anything is looked up.
                assert real.code == "AccessDeniedException", f"{where}: {real}"
            _compare(where, real, spectral, a, spectre, renamed, b)
    return calls


@pytest.mark.parametrize("backend", ["inprocess", "server-sqlite", "server-postgresql"],
                         indirect=True)
def test_another_account_is_refused_as_if_nothing_existed(backend: Backend) -> None:
    a_client, b_client, a, b = _worlds(backend)
    assert {arn.split(":")[4] for arn in b.ids.values() if arn.startswith("arn:")} \
        == {b.account}, "B's creates replayed A's idempotent answers"
    before = snapshot(backend, a_client, a)
    b_before = snapshot(backend, b_client, b)

    started = time.perf_counter()
    calls = _attack_all(b_client, a, b, aliases=True, label="arn")
    # A's aliases and ids inside B's own ARNs: B has a contact of A's PERSONAL alias.
    calls += _attack_all(b_client, rebase(a, b.account), b, aliases=False, label="rebased",
                          ids_only=True)
    calls += _attack_all(b_client, bare(a), b, aliases=True, label="bare")
    # A's own ARNs from another region: nothing there, whoever asks.
    elsewhere = backend.client(region="eu-west-1")
    calls += _attack_all(elsewhere, a, _home_elsewhere(backend, b), aliases=True,
                         label="region")
    elapsed = time.perf_counter() - started
    print(f"{backend.kind}: {calls} calls in {elapsed:.2f} s")

    assert snapshot(backend, a_client, a) == before
    # B's own world is untouched by its failed attempts too (nothing half-done).
    assert snapshot(backend, b_client, b) == b_before


def _home_elsewhere(backend: Backend, b: World) -> World:
    """A world of A's account in another region, for the attacks that need one's own
    resources: the ids of B's world respelled there (they do not exist in that region, so
    those attacks fail on the caller's own resource first, as a ghost does)."""
    moved = World(b.account, b.alias, start=b.start)
    for key, value in b.ids.items():
        moved.ids[key] = value.replace(":us-east-1:", ":eu-west-1:").replace(
            f":{b.account}:", f":{backend.account}:")
    return moved


def test_the_ghost_spelling_changes_every_identifier() -> None:
    """The comparison means something only if the ghost names other resources."""
    arn = "arn:aws:ssm-contacts:us-east-1:111122223333:"
    a = World("111122223333", "iso-0a1b2c3d", start=0.0)
    a.ids.update({
        "person": f"{arn}contact/iso-0a1b2c3d",
        "escalation": f"{arn}contact/iso-0a1b2c3d-esc",
        "channel": f"{arn}contact-channel/iso-0a1b2c3d/{uuid.uuid4()}",
        "rotation": f"{arn}rotation/{uuid.uuid4()}",
        "override": str(uuid.uuid4()),
    })
    spectre, renamed = ghost(a, aliases=True)
    assert all(spectre[k] != a[k] for k in a.ids)
    assert spectre["escalation"].endswith("contact/gho-0a1b2c3d-esc")
    kept, _ = ghost(a, aliases=False)
    assert kept["person"] == a["person"] and kept["rotation"] != a["rotation"]
    assert kept["channel"].rsplit("/", 1)[0] == a["channel"].rsplit("/", 1)[0]
    real = Outcome("X", 400, {"Message": f"{a['channel']} missing"})
    copy = Outcome("X", 400, {"Message": f"{spectre['channel']} missing"})
    assert normalised(real, a, placeholders_of(a.tokens())) == \
        normalised(copy, spectre, placeholders_of(a.tokens(), renamed))
    other = Outcome("X", 400, {"Message": f"{spectre['channel']} is elsewhere"})
    assert normalised(real, a, placeholders_of(a.tokens())) != \
        normalised(other, spectre, placeholders_of(a.tokens(), renamed))


def test_idempotency_tokens_belong_to_their_account(backend: Backend) -> None:
    """B repeating A's token with A's exact parameters does not get A's answer."""
    a_client, b_client = backend.client(), backend.client(account=new_account())
    contact = call(a_client, "CreateContact", {
        "Alias": "shared-alias", "Type": "PERSONAL", "Plan": {"Stages": []},
        "IdempotencyToken": TOKENS["CreateContact"]})["ContactArn"]
    same = {"ContactId": contact, "Sender": "s", "Subject": "x", "Content": "y",
            "IdempotencyToken": TOKENS["StartEngagement"]}
    engagement = call(a_client, "StartEngagement", same)["EngagementArn"]
    mine = call(b_client, "CreateContact", {
        "Alias": "shared-alias", "Type": "PERSONAL", "Plan": {"Stages": []},
        "IdempotencyToken": TOKENS["CreateContact"]})["ContactArn"]
    assert mine != contact and f":{_account_of(b_client)}:" in mine
    refused = outcome(b_client, "StartEngagement", same)
    assert refused.code == "AccessDeniedException", refused
    assert call(a_client, "StartEngagement", same)["EngagementArn"] == engagement


class _Signer:
    """One user of a ``--auth sigv4`` server, seen as :class:`Backend` is by the world's
    helpers: clients and the messages endpoint, both signed as the user."""

    kind = "server-sigv4"

    def __init__(self, server: ServerProcess, user: User) -> None:
        self.server, self.user, self.account = server, user, user.account

    def client(self, region: str = REGION, account: str | None = None) -> Any:
        assert account is None
        return signed_client(self.server, self.user, region=region)

    def messages(self, channel_arn: str | None = None) -> list[dict[str, Any]]:
        return signed_messages(self.server, key=self.user.key, secret=self.user.secret,
                               channel_arn=channel_arn)


@pytest.fixture(scope="module")
def sigv4_inspecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_sigv4(tmp_path_factory.mktemp("sigv4-matrix"), args=["--inspection"])
    yield server
    server.stop()


def test_signed_users_of_two_accounts_are_refused_alike(sigv4_inspecting: ServerProcess
                                                        ) -> None:
    """``--auth sigv4``: the callers are IAM users (``PrincipalCaller``), not the development
    mode's account roots; the same matrix, by ARN and rebased."""
    home, away = _Signer(sigv4_inspecting, ADMIN), _Signer(sigv4_inspecting, BOB)
    a_client, b_client = home.client(), away.client()
    start = float(int(time.time()) // 3600 * 3600 - DAY)
    alias = f"iso-{uuid.uuid4().hex[:8]}"
    a = build(home, a_client, ADMIN.account, alias, start)
    b = build(away, b_client, BOB.account, alias, start)
    before = snapshot(home, a_client, a)
    _attack_all(b_client, a, b, aliases=True, label="sigv4 arn")
    _attack_all(b_client, rebase(a, b.account), b, aliases=False, label="sigv4 rebased",
                ids_only=True)
    assert snapshot(home, a_client, a) == before
