"""Copying one account/region of ssm-contacts to another endpoint, through the public API.

For teams leaving AWS Incident Manager: the source is usually AWS itself, the target an
incident-contacts server. Both sides are plain boto3 ``ssm-contacts`` clients, so this module
knows nothing of either implementation. Dependency order:

1. PERSONAL contacts (alias, display name, tags; the plan comes in step 4), then their channels,
   created with ``DeferActivation`` so that every address is proven again on the target;
2. rotations (members mapped to the target's contacts) and their overrides that have not ended;
3. ONCALL_SCHEDULE and ESCALATION contacts, with their plans mapped;
4. plans of PERSONAL contacts (their channels exist now);
5. contact policies, Resource ARNs mapped.

References are mapped to the target's ARNs by :mod:`incident_contacts.copy_mapping`.

Engagements, pages and their history are never copied: starting engagements would page people.

Re-running is safe: a contact whose alias exists on the target is matched (a ConflictException
on create is looked up), a channel by (type, address), a rotation by name, an override by
(start, end, members). What the target holds already is never changed, except that an empty
plan or a missing policy of a matched contact is filled in (a run that failed half way is
completed by the next).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from incident_contacts.copy_mapping import (
    ArnMap,
    NotCopied,
    arn_home,
    map_policy,
    plan_empty,
    same_plan,
)

#: How far ahead rotation overrides are looked for on the source.
OVERRIDE_HORIZON = timedelta(days=5 * 366)
NOT_COPIED = ("engagements, pages and their history are not copied (starting engagements "
              "would page people)")
_EMPTY_PLAN: dict[str, Any] = {"Stages": []}


@dataclass
class Outcome:
    kind: str            # contact, channel, rotation, override, plan, policy, activation
    name: str
    status: str          # created, matched, skipped, failed (dry run: "would create")
    reason: str = ""

    def line(self) -> str:
        text = f"{self.status:<12} {self.kind:<9} {self.name}"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class Report:
    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str, status: str, reason: str = "") -> Outcome:
        outcome = Outcome(kind, name, status, reason)
        self.outcomes.append(outcome)
        return outcome

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def summary(self) -> str:
        statuses = ["would create"] if self.dry_run else ["created"]
        statuses += ["matched", "skipped", "failed"]
        return ", ".join(f"{status} {self.count(status)}" for status in statuses)


def _error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")


def _reason(exc: Exception) -> str:
    """What goes into the report for an item that failed: an API error as AWS words it, any
    other (NotCopied, a policy that is not JSON) as its text."""
    return _error(exc) if isinstance(exc, ClientError) else str(exc)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _pages(client: Any, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def _tags(client: Any, arn: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = client.list_tags_for_resource(ResourceARN=arn).get("Tags", [])
    return tags


def _address(channel: dict[str, Any]) -> str:
    return str(channel.get("DeliveryAddress", {}).get("SimpleAddress", ""))


def _second(moment: datetime) -> int:
    """A time to the whole second, as a client sends it (botocore drops the fraction of a
    second): an override of the source's with one is matched on the target without it."""
    return int(moment.timestamp() // 1)


_QUOTED_VALUE = re.compile(r"Value '[^']*'")


def _without_address(reason: str, address: str) -> str:
    """An error text with the address it may quote taken out, whole or cut short (a
    validation message shows a value's start only), as are the values it quotes."""
    if address:
        reason = reason.replace(address, "(address)")
    return _QUOTED_VALUE.sub("Value (hidden)", reason)


@dataclass
class _Copy:
    source: Any
    target: Any
    report: Report
    now: datetime
    mapping: ArnMap = field(default_factory=ArnMap)
    to_activate: list[tuple[str, str]] = field(default_factory=list)

    # -- writes: never in a dry run ----------------------------------------------------------

    def write(self, operation: str, **params: Any) -> dict[str, Any]:
        if self.report.dry_run:
            raise AssertionError(f"{operation} in a dry run")
        result: dict[str, Any] = getattr(self.target, operation)(**params)
        return result

    def placeholder(self, kind: str, name: str) -> str:
        return f"(new {kind} {name})"

    # -- contacts ----------------------------------------------------------------------------

    def find_contact(self, alias: str) -> dict[str, Any] | None:
        """The target's own contact of this alias. The target lists contacts other accounts
        share with it too, maybe of the same alias: never one of those (its channels, plan
        and policy are not the copy's). Their account is told apart by the target's home,
        once known (a copied item's ARN, or the target's own rotations, which are never
        shared); until then a contact of that alias of several accounts is not copied."""
        found = [c for c in _pages(self.target, "list_contacts", "Contacts", AliasPrefix=alias)
                 if c["Alias"] == alias]
        if self.mapping.target_home is not None:
            found = [c for c in found
                     if arn_home(c["ContactArn"]) == self.mapping.target_home]
        elif len({arn_home(c["ContactArn"]) for c in found}) > 1:
            raise NotCopied(f"the target lists contacts named {alias} of several accounts "
                            "(some shared with it): which is its own is not known yet")
        return found[0] if found else None

    def contact(self, contact: dict[str, Any], plan: dict[str, Any] | None) -> str | None:
        """Create or match one contact; its target ARN, or None when it was not copied."""
        alias, kind = contact["Alias"], contact["Type"]
        try:
            tags = _tags(self.source, contact["ContactArn"])
            existing = self.find_contact(alias) if self.report.dry_run else None
            if existing is None and self.report.dry_run:
                self.report.add("contact", alias, "would create", kind.lower())
                return self.placeholder("contact", alias)
            if existing is None:
                params: dict[str, Any] = {"Alias": alias, "Type": kind,
                                          "Plan": plan or _EMPTY_PLAN}
                if contact.get("DisplayName"):
                    params["DisplayName"] = contact["DisplayName"]
                if tags:
                    params["Tags"] = tags
                try:
                    arn = str(self.write("create_contact", **params)["ContactArn"])
                except ClientError as exc:
                    if _code(exc) != "ConflictException":
                        raise
                    existing = self.find_contact(alias)
                    if existing is None:
                        raise
                else:
                    self.mapping.learn_target(arn)
                    self.report.add("contact", alias, "created", kind.lower())
                    return arn
            if existing["Type"] != kind:
                raise NotCopied(f"the target's {alias} is {existing['Type']}, not {kind}")
            self.mapping.learn_target(existing["ContactArn"])
            self.report.add("contact", alias, "matched")
            return str(existing["ContactArn"])
        except (ClientError, NotCopied) as exc:
            self.report.add("contact", alias, "failed", _reason(exc))
            return None

    # -- channels ----------------------------------------------------------------------------

    def channels(self, alias: str, source_arn: str, target_arn: str) -> None:
        mine = list(_pages(self.source, "list_contact_channels", "ContactChannels",
                           ContactId=source_arn))
        self.mapping.known.update(c["ContactChannelArn"] for c in mine)
        theirs: dict[tuple[str, str], dict[str, Any]] = {}
        if not target_arn.startswith("("):
            try:
                for c in _pages(self.target, "list_contact_channels", "ContactChannels",
                                ContactId=target_arn):
                    theirs.setdefault((c["Type"], _address(c)), c)
            except ClientError as exc:
                self.report.add("channel", f"{alias}/*", "failed", _error(exc))
                return
        for channel in mine:
            name = f"{alias}/{channel['Name']}"
            match = theirs.get((channel["Type"], _address(channel)))
            try:
                if match is not None:
                    arn = str(match["ContactChannelArn"])
                    self.report.add("channel", name, "matched")
                    if match.get("ActivationStatus") == "NOT_ACTIVATED":
                        self.to_activate.append((name, arn))
                elif self.report.dry_run:
                    arn = self.placeholder("channel", name)
                    self.report.add("channel", name, "would create", channel["Type"])
                    self.to_activate.append((name, arn))
                else:
                    arn = str(self.write(
                        "create_contact_channel", ContactId=target_arn, Name=channel["Name"],
                        Type=channel["Type"], DeliveryAddress=channel["DeliveryAddress"],
                        DeferActivation=True)["ContactChannelArn"])
                    self.report.add("channel", name, "created", channel["Type"])
                    self.to_activate.append((name, arn))
                self.mapping.arns[channel["ContactChannelArn"]] = arn
            except ClientError as exc:
                # The target's refusal may quote the address: personal data, kept off the
                # report (it goes to the terminal); the channel's name says which one.
                self.report.add("channel", name, "failed",
                                _without_address(_error(exc), _address(channel)))

    def send_activation_codes(self) -> None:
        for name, arn in self.to_activate:
            if self.report.dry_run:
                self.report.add("activation", name, "would create", "activation code")
                continue
            try:
                self.write("send_activation_code", ContactChannelId=arn)
                self.report.add("activation", name, "created", "activation code sent")
            except ClientError as exc:
                self.report.add("activation", name, "failed", _error(exc))

    # -- rotations and overrides --------------------------------------------------------------

    def members(self, given: list[str]) -> list[str]:
        missing = [arn for arn in given if arn not in self.mapping.arns]
        if missing:
            raise NotCopied(f"member {', '.join(missing)} not copied")
        return [self.mapping.arns[arn] for arn in given]

    def rotation(self, rotation: dict[str, Any]) -> None:
        name = rotation["Name"]
        self.mapping.known.add(rotation["RotationArn"])
        try:
            members = self.members(rotation.get("ContactIds", []))
            existing = [r for r in _pages(self.target, "list_rotations", "Rotations",
                                          RotationNamePrefix=name) if r["Name"] == name]
            if existing:
                arn = str(existing[0]["RotationArn"])
                self.report.add("rotation", name, "matched")
            elif self.report.dry_run:
                arn = self.placeholder("rotation", name)
                self.report.add("rotation", name, "would create")
            else:
                params: dict[str, Any] = {
                    "Name": name, "ContactIds": members, "StartTime": rotation["StartTime"],
                    "TimeZoneId": rotation["TimeZoneId"], "Recurrence": rotation["Recurrence"]}
                tags = _tags(self.source, rotation["RotationArn"])
                if tags:
                    params["Tags"] = tags
                arn = str(self.write("create_rotation", **params)["RotationArn"])
                self.report.add("rotation", name, "created")
        except (ClientError, NotCopied) as exc:
            self.report.add("rotation", name, "failed", _reason(exc))
            return
        self.mapping.arns[rotation["RotationArn"]] = arn
        self.overrides(name, rotation["RotationArn"], arn)

    def overrides(self, name: str, source_arn: str, target_arn: str) -> None:
        window = {"StartTime": self.now, "EndTime": self.now + OVERRIDE_HORIZON}
        mine = list(_pages(self.source, "list_rotation_overrides", "RotationOverrides",
                           RotationId=source_arn, **window))
        theirs: set[tuple[Any, ...]] = set()
        if mine and not target_arn.startswith("("):
            theirs = {(_second(o["StartTime"]), _second(o["EndTime"]),
                       tuple(o.get("NewContactIds", [])))
                      for o in _pages(self.target, "list_rotation_overrides",
                                      "RotationOverrides", RotationId=target_arn, **window)}
        for override in mine:
            label = (f"{name} {override['StartTime'].astimezone(UTC):%Y-%m-%dT%H:%MZ}.."
                     f"{override['EndTime'].astimezone(UTC):%Y-%m-%dT%H:%MZ}")
            try:
                members = self.members(override.get("NewContactIds", []))
                if (_second(override["StartTime"]), _second(override["EndTime"]),
                        tuple(members)) in theirs:
                    self.report.add("override", label, "matched")
                elif self.report.dry_run:
                    self.report.add("override", label, "would create")
                else:
                    self.write("create_rotation_override", RotationId=target_arn,
                               NewContactIds=members, StartTime=override["StartTime"],
                               EndTime=override["EndTime"])
                    self.report.add("override", label, "created")
            except (ClientError, NotCopied) as exc:
                self.report.add("override", label, "failed", _reason(exc))

    def plan(self, alias: str, source_plan: dict[str, Any], target_arn: str) -> None:
        """Set the plan of a contact created without one, or of a matched contact whose plan
        is empty on the target; a matched plan that differs is left as it is."""
        if plan_empty(source_plan):
            return
        notes: list[str] = []
        try:
            mapped = self.mapping.map_plan(source_plan, notes)
            if target_arn.startswith("("):
                self.report.add("plan", alias, "would create", "; ".join(notes))
                return
            current = self.target.get_contact(ContactId=target_arn).get("Plan", {})
            self.fill_in("plan", alias, notes, same=same_plan(current, mapped),
                         taken=not plan_empty(current),
                         write=lambda: self.write("update_contact", ContactId=target_arn,
                                                  Plan=mapped))
        except (ClientError, NotCopied) as exc:
            self.report.add("plan", alias, "failed", _reason(exc))

    def fill_in(self, kind: str, alias: str, notes: list[str], *, same: bool, taken: bool,
                write: Callable[[], object]) -> None:
        """A contact's plan or policy on the target: matched when it is the same, left as it
        is when the target has another (nothing on the target is overwritten), else written."""
        if same:
            self.report.add(kind, alias, "matched")
        elif taken:
            self.report.add(kind, alias, "skipped", f"the target's {kind} differs; left as it is")
        elif self.report.dry_run:
            self.report.add(kind, alias, "would create", "; ".join(notes))
        else:
            write()
            self.report.add(kind, alias, "created", "; ".join(notes))

    # -- policies -----------------------------------------------------------------------------

    def policy(self, alias: str, source_arn: str, target_arn: str) -> None:
        try:
            text = self.source.get_contact_policy(ContactArn=source_arn).get("Policy")
            if not text:
                return
            notes: list[str] = []
            mapped = map_policy(text, self.mapping.map_resource(notes))
            if target_arn.startswith("("):
                self.report.add("policy", alias, "would create", "; ".join(notes))
                return
            current = self.target.get_contact_policy(ContactArn=target_arn).get("Policy")
            self.fill_in("policy", alias, notes,
                         same=bool(current) and json.loads(current) == json.loads(mapped),
                         taken=bool(current),
                         write=lambda: self.write("put_contact_policy", ContactArn=target_arn,
                                                  Policy=mapped))
        except (ClientError, ValueError) as exc:
            self.report.add("policy", alias, "failed", _reason(exc))


def source_home(contacts: list[dict[str, Any]], rotations: list[dict[str, Any]],
                account: str | None) -> tuple[str, str, str] | None:
    """(partition, region, account) of the contacts to copy: those of ``account`` when given;
    else of the rotations (which are never shared from another account); else of the
    contacts when they are all of one account. Raises ValueError when the listing holds
    contacts of several accounts and nothing says which is the caller's own: the most
    numerous is not it when others share more contacts with it than it has."""
    homes = [arn_home(c["ContactArn"]) for c in contacts]
    if account is not None:
        mine = [h for h in homes + [arn_home(r["RotationArn"]) for r in rotations]
                if h[2] == account]
        return max(set(mine), key=mine.count) if mine else None
    owned = {arn_home(r["RotationArn"]) for r in rotations}
    if len(owned) == 1:
        return owned.pop()
    if len(set(homes)) == 1:
        return homes[0]
    if not homes:
        return None
    accounts = ", ".join(sorted({h[2] for h in homes}))
    raise ValueError(f"the source lists contacts of several accounts ({accounts}): name the "
                     "account to copy with --source-account")


def copy_contacts(source: Any, target: Any, *, dry_run: bool = False,
                  send_activation_codes: bool = False, now: datetime | None = None,
                  source_account: str | None = None) -> Report:
    """Copy every contact, channel, rotation, override, plan, policy and tag of the source
    client's account and region to the target client's. Nothing is written in a dry run.

    ``source_account``: the account whose contacts are copied (a server may list contacts
    other accounts share with the caller; those are skipped); by default found by
    :func:`source_home`, which raises ValueError when it cannot tell."""
    report = Report(dry_run=dry_run)
    job = _Copy(source, target, report, now or datetime.now(UTC))
    # The target's own rotations (never shared with it) name its account and region.
    owned = {arn_home(r["RotationArn"]) for r in _pages(target, "list_rotations", "Rotations")}
    if len(owned) == 1:
        job.mapping.target_home = owned.pop()
    listed = list(_pages(source, "list_contacts", "Contacts"))
    rotations = list(_pages(source, "list_rotations", "Rotations"))
    home = source_home(listed, rotations, source_account)
    if home is not None:
        job.mapping.home = home
    contacts = []
    for contact in listed:
        if arn_home(contact["ContactArn"]) != job.mapping.home:
            report.add("contact", contact["Alias"], "skipped",
                       f"shared from account {arn_home(contact['ContactArn'])[2]}; not copied")
            continue
        job.mapping.known.add(contact["ContactArn"])
        contacts.append(contact)
    rotations = [r for r in rotations if arn_home(r["RotationArn"]) == job.mapping.home]
    plans = {c["ContactArn"]: source.get_contact(ContactId=c["ContactArn"]).get("Plan", {})
             for c in contacts}
    done: dict[str, str] = {}                 # source contact ARN -> target ARN
    planned: set[str] = set()                 # created with their plan in this run

    for contact in contacts:
        if contact["Type"] != "PERSONAL":
            continue
        arn = job.contact(contact, None)
        if arn is not None:
            done[contact["ContactArn"]] = job.mapping.arns[contact["ContactArn"]] = arn
            job.channels(contact["Alias"], contact["ContactArn"], arn)
    for rotation in rotations:
        job.rotation(rotation)
    for kind in ("ONCALL_SCHEDULE", "ESCALATION"):
        for contact in contacts:
            if contact["Type"] != kind:
                continue
            notes: list[str] = []
            try:
                plan = job.mapping.map_plan(plans[contact["ContactArn"]], notes)
            except NotCopied as exc:
                report.add("contact", contact["Alias"], "failed", f"plan: {exc}")
                continue
            arn = job.contact(contact, plan)
            if arn is not None:
                done[contact["ContactArn"]] = job.mapping.arns[contact["ContactArn"]] = arn
                if report.outcomes[-1].status != "matched":     # created with its plan
                    planned.add(contact["ContactArn"])
                    report.notes.extend(f"{contact['Alias']}: {note}" for note in notes)
    for contact in contacts:
        if contact["ContactArn"] in done and contact["ContactArn"] not in planned:
            job.plan(contact["Alias"], plans[contact["ContactArn"]],
                     done[contact["ContactArn"]])
    for contact in contacts:
        if contact["ContactArn"] in done:
            job.policy(contact["Alias"], contact["ContactArn"], done[contact["ContactArn"]])
    if send_activation_codes:
        job.send_activation_codes()
    elif job.to_activate:
        report.notes.append(f"{len(job.to_activate)} channels wait for activation on the "
                            "target: run again with --send-activation-codes, or activate "
                            "them one by one")
    report.notes.append(NOT_COPIED)
    return report


__all__ = ["NOT_COPIED", "OVERRIDE_HORIZON", "Outcome", "Report", "copy_contacts",
           "source_home"]
