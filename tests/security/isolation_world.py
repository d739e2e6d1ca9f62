"""Two accounts with one of every kind of resource, and what comparing them needs.

:func:`build` gives an account a world: a PERSONAL contact with an activated channel (its
plan pages it), an ESCALATION plan and an ON-CALL schedule over it, a rotation with an
override, an engagement with its page, tags and a contact policy. Every create carries an
idempotency token of :data:`TOKENS`, the same value in every account, so building a second
account's world replays the first's tokens under other credentials.

:func:`ghost` respells a world's identifiers as resources that do not exist (fresh ids, and
optionally fresh aliases), so a test can ask whether another account's real resource is
refused exactly as a missing one is: same code, status, modeled members and message.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore import xform_name
from botocore.exceptions import ClientError


class Messages(Protocol):
    """What the world's helpers need of a backend: its sent messages (``tests.conftest``'s
    Backend, or a signed user of a ``--auth sigv4`` server)."""

    def messages(self, channel_arn: str | None = None) -> list[dict[str, Any]]: ...

DAY = 86_400.0
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DAILY = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
         "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}
TOKENS = {op: f"isolation-{op}-token" for op in (
    "CreateContact", "CreateContactChannel", "CreateRotation", "CreateRotationOverride",
    "StartEngagement")}
"""One idempotency token value per creating operation, used by every account."""

WORLD_KEYS = ("person", "escalation", "schedule", "channel", "rotation", "override",
              "engagement", "page")
"""The identifiers of a world that name its resources (the rest are its times and names)."""


def call(client: Any, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``operation`` by its model name; the answer without its metadata."""
    answer: dict[str, Any] = getattr(client, xform_name(operation))(**params)
    answer.pop("ResponseMetadata", None)
    return answer


@dataclass(frozen=True)
class Outcome:
    """What a call answered: an error (code, status, modeled members) or a success."""

    code: str | None
    status: int
    members: dict[str, Any]
    answer: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.code or 'success'} {self.status} {self.members}"


def outcome(client: Any, operation: str, params: Mapping[str, Any]) -> Outcome:
    try:
        return Outcome(None, 200, {}, call(client, operation, params))
    except ClientError as exc:
        response = exc.response
        members = {k: v for k, v in response.items()
                   if k not in ("Error", "ResponseMetadata")}
        members["Message"] = response["Error"].get("Message")
        return Outcome(response["Error"]["Code"],
                       response["ResponseMetadata"]["HTTPStatusCode"], members)


@dataclass
class World:
    """One account's resources (``ids``: key -> ARN or id) and the times they were made at."""

    account: str
    alias: str
    ids: dict[str, str] = field(default_factory=dict)
    start: float = 0.0

    @property
    def window(self) -> tuple[float, float]:
        """The rotation override's hours: two days after the rotation starts."""
        return self.start + 2 * DAY, self.start + 2 * DAY + 3 * 3600

    def __getitem__(self, key: str) -> str:
        return self.ids[key]

    def tokens(self) -> set[str]:
        """The ids and aliases inside this world's identifiers."""
        found: set[str] = set()
        for value in self.ids.values():
            found.update(UUID.findall(value))
        found.update(a for a in (self.alias, f"{self.alias}-esc", f"{self.alias}-oncall"))
        return found


def poll(what: str, probe: Callable[[], Any], seconds: float = 15.0) -> Any:
    """Bounded polling for the engine and delivery of a server (never a sleep for time)."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def build(backend: Messages, client: Any, account: str, alias: str, start: float) -> World:
    """One of every resource in ``account``; ``alias`` names its PERSONAL contact."""
    world = World(account, alias, start=start)
    ids = world.ids
    ids["person"] = call(client, "CreateContact", {
        "Alias": alias, "DisplayName": f"Person {alias}", "Type": "PERSONAL",
        "Plan": {"Stages": []}, "Tags": [{"Key": "team", "Value": alias}],
        "IdempotencyToken": TOKENS["CreateContact"]})["ContactArn"]
    ids["channel"] = call(client, "CreateContactChannel", {
        "ContactId": ids["person"], "Name": "mail", "Type": "EMAIL",
        "DeliveryAddress": {"SimpleAddress": f"{alias}@example.com"},
        "IdempotencyToken": TOKENS["CreateContactChannel"]})["ContactChannelArn"]
    code = poll("the activation code", lambda: [
        m["ActivationCode"] for m in backend.messages(ids["channel"])
        if m.get("ActivationCode")])[-1]
    call(client, "ActivateContactChannel",
         {"ContactChannelId": ids["channel"], "ActivationCode": code})
    call(client, "UpdateContact", {"ContactId": ids["person"], "Plan": {"Stages": [{
        "DurationInMinutes": 5, "Targets": [{"ChannelTargetInfo": {
            "ContactChannelId": ids["channel"], "RetryIntervalInMinutes": 1}}]}]}})
    ids["rotation"] = call(client, "CreateRotation", {
        "Name": f"{alias} rota", "ContactIds": [ids["person"]], "TimeZoneId": "UTC",
        "StartTime": start, "Recurrence": DAILY, "Tags": [{"Key": "team", "Value": alias}],
        "IdempotencyToken": TOKENS["CreateRotation"]})["RotationArn"]
    low, high = world.window
    ids["override"] = call(client, "CreateRotationOverride", {
        "RotationId": ids["rotation"], "NewContactIds": [ids["person"]], "StartTime": low,
        "EndTime": high, "IdempotencyToken": TOKENS["CreateRotationOverride"]}
    )["RotationOverrideId"]
    ids["escalation"] = call(client, "CreateContact", {
        "Alias": f"{alias}-esc", "Type": "ESCALATION", "Plan": {"Stages": [{
            "DurationInMinutes": 5, "Targets": [{"ContactTargetInfo": {
                "ContactId": ids["person"], "IsEssential": True}}]}]}})["ContactArn"]
    ids["schedule"] = call(client, "CreateContact", {
        "Alias": f"{alias}-oncall", "Type": "ONCALL_SCHEDULE",
        "Plan": {"Stages": [], "RotationIds": [ids["rotation"]]}})["ContactArn"]
    # A policy that shares the contact with nobody the tests sign as.
    call(client, "PutContactPolicy", {"ContactArn": ids["person"], "Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "999999999999"},
            "Action": "ssm-contacts:GetContact", "Resource": ids["person"]}]})})
    ids["engagement"] = call(client, "StartEngagement", {
        "ContactId": ids["person"], "Sender": "monitor", "Subject": f"{alias} subject",
        "Content": f"{alias} content", "IncidentId": f"{alias}-incident",
        "IdempotencyToken": TOKENS["StartEngagement"]}
    )["EngagementArn"]
    pages = poll("the page", lambda: call(client, "ListPagesByEngagement", {
        "EngagementId": ids["engagement"]})["Pages"])
    ids["page"] = pages[0]["PageArn"]
    # Delivery settles before anything is compared: the page's message is sent and its
    # SENT receipt recorded, so later snapshots differ only by what the tests did.
    poll("the page's delivery", lambda: any(
        r["ReceiptType"] == "SENT" for r in call(client, "ListPageReceipts", {
            "PageId": ids["page"]})["Receipts"]) and all(
        m["DeliveryStatus"] != "PENDING" for m in backend.messages(ids["channel"])))
    return world


def snapshot(backend: Messages, client: Any, world: World) -> dict[str, Any]:
    """Everything the world's owner can read of it, and its outbox."""
    low, high = world.window
    reads: list[tuple[str, dict[str, Any]]] = [
        ("ListContacts", {}), ("ListRotations", {}), ("ListEngagements", {}),
        ("GetContact", {"ContactId": world["person"]}),
        ("GetContact", {"ContactId": world["escalation"]}),
        ("GetContact", {"ContactId": world["schedule"]}),
        ("ListContactChannels", {"ContactId": world["person"]}),
        ("GetContactChannel", {"ContactChannelId": world["channel"]}),
        ("GetContactPolicy", {"ContactArn": world["person"]}),
        ("ListTagsForResource", {"ResourceARN": world["person"]}),
        ("ListTagsForResource", {"ResourceARN": world["rotation"]}),
        ("GetRotation", {"RotationId": world["rotation"]}),
        ("GetRotationOverride", {"RotationId": world["rotation"],
                                 "RotationOverrideId": world["override"]}),
        ("ListRotationOverrides", {"RotationId": world["rotation"], "StartTime": low - DAY,
                                   "EndTime": high + DAY}),
        ("ListRotationShifts", {"RotationId": world["rotation"], "StartTime": world.start,
                                "EndTime": world.start + 4 * DAY}),
        ("DescribeEngagement", {"EngagementId": world["engagement"]}),
        ("ListPagesByEngagement", {"EngagementId": world["engagement"]}),
        ("ListPagesByContact", {"ContactId": world["person"]}),
        ("DescribePage", {"PageId": world["page"]}),
        ("ListPageReceipts", {"PageId": world["page"]}),
        ("ListPageResolutions", {"PageId": world["page"]}),
    ]
    state: dict[str, Any] = {}
    for operation, params in reads:
        state[f"{operation} {json.dumps(params, sort_keys=True)}"] = call(client, operation,
                                                                          params)
    state["messages"] = [{k: v for k, v in m.items() if k != "DeliveryStatus"}
                         for m in backend.messages(world["channel"])]
    return state


def ghost(world: World, *, aliases: bool) -> tuple[World, dict[str, str]]:
    """The same world spelled with fresh ids (and fresh aliases when ``aliases``): resources
    that do not exist. Also the renaming, token -> placeholder, for both worlds' tokens."""
    renamed: dict[str, str] = {}
    for token in sorted(world.tokens(), key=len, reverse=True):
        if UUID.fullmatch(token):
            renamed[token] = str(uuid.uuid4())
        elif aliases:
            renamed[token] = token.replace(world.alias, f"gh{world.alias[2:]}", 1)
        else:
            renamed[token] = token
    spectre = World(world.account, renamed.get(world.alias, world.alias), start=world.start)
    for key, value in world.ids.items():
        spectre.ids[key] = respell(value, renamed)
    return spectre, renamed


def respell(text: str, renamed: Mapping[str, str]) -> str:
    """``text`` with each token renamed; ids are replaced whole, aliases only as a path part."""
    text = UUID.sub(lambda m: renamed.get(m.group(0), m.group(0)), text)
    for old, new in sorted(renamed.items(), key=lambda kv: len(kv[0]), reverse=True):
        if old != new and not UUID.fullmatch(old):
            text = re.sub(rf"(?:(?<=/)|^){re.escape(old)}(?=/|$)", new, text)
    return text


def rebase(world: World, account: str) -> World:
    """The world's identifiers spelled in another account."""
    moved = World(account, world.alias, start=world.start)
    for key, value in world.ids.items():
        moved.ids[key] = value.replace(f":{world.account}:", f":{account}:")
    return moved


def bare(world: World) -> World:
    """The world's ARNs cut down to their last part (an alias or an id, as a person might
    type it): not ARNs at all."""
    cut = World(world.account, world.alias, start=world.start)
    for key, value in world.ids.items():
        cut.ids[key] = value.rsplit("/", 1)[-1]
    return cut


def normalised(result: Outcome, world: World, placeholders: Mapping[str, str]) -> Outcome:
    """An outcome with the world's tokens replaced by placeholders, so two outcomes about
    different identifiers compare equal when they say the same thing."""
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for token, name in sorted(placeholders.items(), key=lambda kv: len(kv[0]),
                                      reverse=True):
                value = value.replace(token, name)
            return value
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return Outcome(result.code, result.status, clean(result.members),
                   clean(result.answer) if result.answer is not None else None)


def placeholders_of(tokens: Iterable[str], renamed: Mapping[str, str] | None = None
                    ) -> dict[str, str]:
    """token -> ``<n>`` (through ``renamed`` when given, so a ghost's tokens get the same
    placeholders as the real ones)."""
    result: dict[str, str] = {}
    for n, token in enumerate(sorted(tokens)):
        result[renamed[token] if renamed else token] = f"<{n}>"
    return result
