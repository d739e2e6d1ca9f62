"""Copying one account/region of ssm-contacts to another endpoint, through the public API.

For teams leaving AWS Incident Manager: the source is usually AWS itself, the target an
incident-contacts server. Both sides are plain boto3 ``ssm-contacts`` clients, so this module
knows nothing of either implementation. Dependency order:

1. PERSONAL contacts (alias, display name, tags; the plan comes in step 4), then their channels,
   created with ``DeferActivation`` so that every address is proven again on the target;
2. rotations (members mapped to the target's contacts) and their overrides that have not ended;
3. ONCALL_SCHEDULE and ESCALATION contacts, with their plans mapped;
4. plans of PERSONAL contacts (their channels exist now), and of every matched contact;
5. contact policies, Resource ARNs mapped.

References are mapped to the target's ARNs by :mod:`incident_contacts.copy_mapping`; what the
user is told, and which errors stop a run, is in :mod:`incident_contacts.copy_report`.

Engagements, pages and their history are never copied: starting engagements would page people.

Re-running is safe: a contact whose alias exists on the target is matched (a ConflictException
on create is looked up), a channel by (type, address), a rotation by name, an override by
(start, end, members). A matched contact, channel or rotation is compared with the source and
each difference reported; what the target holds is never changed, except that an empty plan or
a missing policy of a matched contact is filled in (a run that failed half way is completed by
the next), and that ``update=True`` sets a matched contact's display name, plan and tags and a
matched rotation's members, start, time zone, recurrence and tags to the source's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from incident_contacts.copy_mapping import (
    ArnMap,
    NotCopied,
    arn_home,
    map_policy,
    missing_tags,
    plan_empty,
    same_plan,
    same_recurrence,
)
from incident_contacts.copy_report import (
    Outcome,
    Report,
    RunStopped,
    Side,
    error_code,
    error_text,
)

#: How far ahead rotation overrides are looked for on the source.
OVERRIDE_HORIZON = timedelta(days=5 * 366)
NOT_COPIED = ("engagements, pages and their history are not copied (starting engagements "
              "would page people)")
_EMPTY_PLAN: dict[str, Any] = {"Stages": []}


class AccountUnknown(ValueError):
    """Which account is a side's own is not known (the source lists contacts of several
    accounts, nothing says which), or not the one the user named."""


def _reason(exc: Exception) -> str:
    """What goes into the report for an item that failed: an API error as AWS words it, any
    other (NotCopied, a policy that is not JSON, a parameter the client refused) as its text."""
    return error_text(exc) if isinstance(exc, ClientError) else str(exc)


def _address(channel: dict[str, Any]) -> str:
    return str(channel.get("DeliveryAddress", {}).get("SimpleAddress", ""))


def _second(moment: datetime) -> int:
    """A time to the whole second, as a client sends it (botocore drops the fraction of a
    second): an override of the source's with one is matched on the target without it."""
    return int(moment.timestamp() // 1)


def _start(rotation: dict[str, Any]) -> dict[str, Any]:
    """The source rotation's ``StartTime`` as a request member: none when it has none (AWS
    leaves it out for a rotation created without one, which started when it was created)."""
    return {"StartTime": rotation["StartTime"]} if rotation.get("StartTime") else {}


def _placeholder(arn: str) -> bool:
    return arn.startswith("(")


@dataclass
class _Item:
    failed: bool = False


@dataclass
class _Copy:
    source: Side
    target: Side
    report: Report
    now: datetime
    target_account: str | None = None
    mapping: ArnMap = field(default_factory=ArnMap)
    to_activate: list[tuple[str, str]] = field(default_factory=list)
    matched: dict[str, Outcome] = field(default_factory=dict)   # target contact ARN -> line

    # -- items, writes ----------------------------------------------------------------------

    @contextmanager
    def item(self, kind: str, name: str) -> Iterator[_Item]:
        """One item's work: an error about it fails it alone (reported, and the copy goes
        on); an error that stops the run is reported against it too, then passed on."""
        state = _Item()
        try:
            yield state
        except RunStopped as exc:
            state.failed = True
            if not exc.recorded:
                exc.recorded = True
                self.report.add(kind, name, "failed", f"stopped here: {exc.reason}")
            raise
        except (ClientError, NotCopied, ParamValidationError, ValueError) as exc:
            state.failed = True
            self.report.add(kind, name, "failed", _reason(exc))

    def write(self, operation: str, **params: Any) -> dict[str, Any]:
        if self.report.dry_run:
            raise AssertionError(f"{operation} in a dry run")
        return self.target.call(operation, **params)

    def placeholder(self, kind: str, name: str) -> str:
        return f"(new {kind} {name})"

    def tags(self, side: Side, arn: str) -> list[dict[str, str]]:
        tags: list[dict[str, str]] = side.call("list_tags_for_resource",
                                               ResourceARN=arn).get("Tags", [])
        return tags

    def compared(self, kind: str, name: str, differs: list[str],
                 writes: list[Callable[[], object]]) -> Outcome:
        """The line of a matched item: its differences from the source, left as they are, or
        written by ``writes`` when updating (an update that fails leaves the item matched,
        so that what refers to it is still copied)."""
        status, reason = "matched", ""
        if differs and writes and self.report.update:
            if self.report.dry_run:
                status = "would update"
            else:
                try:
                    for write in writes:
                        write()
                    status = "updated"
                except (ClientError, ParamValidationError) as exc:
                    status, reason = "failed", f"matched; updating it failed: {_reason(exc)}"
        outcome = self.report.add(kind, name, status, reason)
        outcome.differs = list(differs)
        return outcome

    # -- contacts ----------------------------------------------------------------------------

    def find_contact(self, alias: str) -> tuple[dict[str, Any] | None, str]:
        """The target's own contact of this alias, and in a dry run why it may be otherwise.

        The target lists contacts other accounts share with it too, maybe of the same alias:
        never one of those (its channels, plan and policy are not the copy's). Their account
        is told apart by the target's home, once known (``target_account``, a copied item's
        ARN, or the target's own rotations, which are never shared). Until then: after a
        ConflictException on create the one account listed is the target's; several are not
        told apart (the contact is not copied); a dry run, which writes nothing, matches
        none of them and says so."""
        found = [c for c in self.target.pages("list_contacts", "Contacts", AliasPrefix=alias)
                 if c["Alias"] == alias]
        homes = {arn_home(c["ContactArn"]) for c in found}
        if self.mapping.target_home is not None:
            found = [c for c in found
                     if arn_home(c["ContactArn"]) == self.mapping.target_home]
        elif self.target_account is not None:
            found = [c for c in found if arn_home(c["ContactArn"])[2] == self.target_account]
        elif found and self.report.dry_run:
            accounts = ", ".join(sorted(h[2] for h in homes))
            return None, (f"unless the {alias} the target lists (account {accounts}) is its "
                          "own and not shared with it: --target-account tells")
        elif len(homes) > 1:
            raise NotCopied(f"the target lists contacts named {alias} of several accounts "
                            "(some shared with it): which is its own is not known yet; "
                            "name it with --target-account")
        return (found[0] if found else None), ""

    def contact(self, contact: dict[str, Any], plan: dict[str, Any] | None) -> str | None:
        """Create or match one contact; its target ARN, or None when it was not copied."""
        alias, kind = contact["Alias"], contact["Type"]
        with self.item("contact", alias):
            tags = self.tags(self.source, contact["ContactArn"])
            existing, doubt = (self.find_contact(alias) if self.report.dry_run
                               else (None, ""))
            if existing is None and self.report.dry_run:
                self.report.add("contact", alias, "would create",
                                "; ".join(filter(None, [kind.lower(), doubt])))
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
                    if error_code(exc) != "ConflictException":
                        raise
                    existing, _ = self.find_contact(alias)
                    if existing is None:
                        raise
                else:
                    self.mapping.learn_target(arn)
                    self.report.add("contact", alias, "created", kind.lower())
                    return arn
            if existing["Type"] != kind:
                raise NotCopied(f"the target's {alias} is {existing['Type']}, not {kind}")
            arn = str(existing["ContactArn"])
            self.mapping.learn_target(arn)
            self.matched[arn] = self.matched_contact(contact, arn, existing, tags)
            return arn
        return None

    def matched_contact(self, contact: dict[str, Any], arn: str, existing: dict[str, Any],
                        tags: list[dict[str, str]]) -> Outcome:
        """Compare display name and tags (the plan is compared in step 4)."""
        differs: list[str] = []
        writes: list[Callable[[], object]] = []
        name = contact.get("DisplayName") or ""
        if name != (existing.get("DisplayName") or ""):
            differs.append("DisplayName")
            writes.append(lambda: self.write("update_contact", ContactId=arn,
                                             DisplayName=name))
        missing = missing_tags(tags, self.tags(self.target, arn))
        if missing:
            differs.append("Tags")
            writes.append(lambda: self.write("tag_resource", ResourceARN=arn, Tags=missing))
        return self.compared("contact", contact["Alias"], differs, writes)

    # -- channels ----------------------------------------------------------------------------

    def channels(self, alias: str, source_arn: str, target_arn: str) -> None:
        theirs: dict[tuple[str, str], dict[str, Any]] = {}
        with self.item("channel", f"{alias}/*") as listing:
            self.mapping.unlisted.add(source_arn)
            mine = list(self.source.pages("list_contact_channels", "ContactChannels",
                                          ContactId=source_arn))
            self.report.addresses.update(filter(None, map(_address, mine)))
            self.mapping.known.update(c["ContactChannelArn"] for c in mine)
            self.mapping.unlisted.discard(source_arn)
            if not _placeholder(target_arn):
                for c in self.target.pages("list_contact_channels", "ContactChannels",
                                           ContactId=target_arn):
                    self.report.addresses.update(filter(None, [_address(c)]))
                    theirs.setdefault((c["Type"], _address(c)), c)
        if listing.failed:
            return
        for channel in mine:
            name = f"{alias}/{channel['Name']}"
            match = theirs.get((channel["Type"], _address(channel)))
            with self.item("channel", name):
                if match is not None:
                    arn = str(match["ContactChannelArn"])
                    # a name is only reported: the update covers contacts and rotations
                    self.compared("channel", name,
                                  ["Name"] if match.get("Name") != channel["Name"] else [], [])
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

    def send_activation_codes(self) -> None:
        for name, arn in self.to_activate:
            if self.report.dry_run:
                self.report.add("activation", name, "would create", "activation code")
                continue
            with self.item("activation", name):
                self.write("send_activation_code", ContactChannelId=arn)
                self.report.add("activation", name, "created", "activation code sent")

    # -- rotations and overrides --------------------------------------------------------------

    def members(self, given: list[str]) -> list[str]:
        missing = [arn for arn in given if arn not in self.mapping.arns]
        if missing:
            raise NotCopied(f"member {', '.join(missing)} not copied")
        return [self.mapping.arns[arn] for arn in given]

    def rotation(self, rotation: dict[str, Any]) -> None:
        name = rotation["Name"]
        self.mapping.known.add(rotation["RotationArn"])
        with self.item("rotation", name) as item:
            members = self.members(rotation.get("ContactIds", []))
            existing = [r for r in self.target.pages("list_rotations", "Rotations",
                                                     RotationNamePrefix=name)
                        if r["Name"] == name]
            tags = self.tags(self.source, rotation["RotationArn"])
            if existing:
                arn = str(existing[0]["RotationArn"])
                self.matched_rotation(rotation, existing[0], members, tags)
            elif self.report.dry_run:
                arn = self.placeholder("rotation", name)
                self.report.add("rotation", name, "would create")
            else:
                params: dict[str, Any] = {
                    "Name": name, "ContactIds": members, **_start(rotation),
                    "TimeZoneId": rotation["TimeZoneId"], "Recurrence": rotation["Recurrence"]}
                if tags:
                    params["Tags"] = tags
                arn = str(self.write("create_rotation", **params)["RotationArn"])
                self.report.add("rotation", name, "created")
        if item.failed:
            return
        self.mapping.arns[rotation["RotationArn"]] = arn
        self.overrides(name, rotation["RotationArn"], arn)

    def matched_rotation(self, rotation: dict[str, Any], existing: dict[str, Any],
                         members: list[str], tags: list[dict[str, str]]) -> None:
        arn = str(existing["RotationArn"])
        starts = [existing.get("StartTime"), rotation.get("StartTime")]
        differs = [member for member, same in (
            ("ContactIds", list(existing.get("ContactIds", [])) == members),
            ("StartTime", len({_second(t) if t else None for t in starts}) == 1),
            ("TimeZoneId", existing.get("TimeZoneId") == rotation["TimeZoneId"]),
            ("Recurrence", same_recurrence(existing.get("Recurrence", {}),
                                           rotation["Recurrence"]))) if not same]
        writes: list[Callable[[], object]] = []
        # A start on the target where the source has none cannot be taken away: the update
        # leaves StartTime out, so it alone is reported and left as it is.
        if [member for member in differs if member != "StartTime" or _start(rotation)]:
            writes.append(lambda: self.write(
                "update_rotation", RotationId=arn, ContactIds=members, **_start(rotation),
                TimeZoneId=rotation["TimeZoneId"], Recurrence=rotation["Recurrence"]))
        missing = missing_tags(tags, self.tags(self.target, arn))
        if missing:
            differs.append("Tags")
            writes.append(lambda: self.write("tag_resource", ResourceARN=arn, Tags=missing))
        self.compared("rotation", rotation["Name"], differs, writes)

    def overrides(self, name: str, source_arn: str, target_arn: str) -> None:
        window = {"StartTime": self.now, "EndTime": self.now + OVERRIDE_HORIZON}
        theirs: set[tuple[Any, ...]] = set()
        with self.item("override", f"{name} *") as listing:
            mine = list(self.source.pages("list_rotation_overrides", "RotationOverrides",
                                          RotationId=source_arn, **window))
            if mine and not _placeholder(target_arn):
                theirs = {(_second(o["StartTime"]), _second(o["EndTime"]),
                           tuple(o.get("NewContactIds", [])))
                          for o in self.target.pages("list_rotation_overrides",
                                                     "RotationOverrides",
                                                     RotationId=target_arn, **window)}
        if listing.failed:
            return
        for override in mine:
            label = (f"{name} {override['StartTime'].astimezone(UTC):%Y-%m-%dT%H:%MZ}.."
                     f"{override['EndTime'].astimezone(UTC):%Y-%m-%dT%H:%MZ}")
            with self.item("override", label):
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

    # -- plans and policies -------------------------------------------------------------------

    def plan(self, alias: str, source_plan: dict[str, Any], source_arn: str,
             target_arn: str) -> None:
        """Set the plan of a contact created without one, or of a matched contact whose plan
        is empty on the target; a matched plan that differs is a difference of its contact
        (updated with ``update``)."""
        with self.item("plan", alias):
            if source_arn in self.mapping.unlisted:
                raise NotCopied("the contact's channels could not be read")
            notes: list[str] = []
            mapped = self.mapping.map_plan(source_plan, notes)
            if _placeholder(target_arn):
                if not plan_empty(source_plan):
                    self.report.add("plan", alias, "would create", "; ".join(notes))
                return
            current = self.target.call("get_contact", ContactId=target_arn).get("Plan", {})
            contact = self.matched.get(target_arn)
            if same_plan(current, mapped):
                if not plan_empty(source_plan):
                    self.report.add("plan", alias, "matched")
            elif plan_empty(current):
                if self.report.dry_run:
                    self.report.add("plan", alias, "would create", "; ".join(notes))
                else:
                    self.write("update_contact", ContactId=target_arn, Plan=mapped)
                    self.report.add("plan", alias, "created", "; ".join(notes))
            elif contact is None:
                self.report.add("plan", alias, "skipped",
                                "the target's plan differs; left as it is")
            else:
                contact.differs.append("Plan")
                if self.report.update and self.report.dry_run:
                    contact.status = "would update"
                elif self.report.update:
                    self.write("update_contact", ContactId=target_arn, Plan=mapped)
                    if contact.status == "matched":
                        contact.status = "updated"
                    self.report.notes.extend(f"{alias}: {note}" for note in notes)

    def policy(self, alias: str, source_arn: str, target_arn: str) -> None:
        with self.item("policy", alias):
            text = self.source.call("get_contact_policy", ContactArn=source_arn).get("Policy")
            if not text:
                return
            notes: list[str] = []
            mapped = map_policy(text, self.mapping.map_resource(notes))
            if _placeholder(target_arn):
                self.report.add("policy", alias, "would create", "; ".join(notes))
                return
            current = self.target.call("get_contact_policy",
                                       ContactArn=target_arn).get("Policy")
            if current and json.loads(current) == json.loads(mapped):
                self.report.add("policy", alias, "matched")
            elif current:
                self.report.add("policy", alias, "skipped",
                                "the target's policy differs; left as it is")
            elif self.report.dry_run:
                self.report.add("policy", alias, "would create", "; ".join(notes))
            else:
                self.write("put_contact_policy", ContactArn=target_arn, Policy=mapped)
                self.report.add("policy", alias, "created", "; ".join(notes))

    # -- the whole run -----------------------------------------------------------------------

    def listed(self, side: Side, operation: str, key: str) -> list[dict[str, Any]]:
        """A listing the run needs before it can start: its failure stops the run."""
        try:
            return list(side.pages(operation, key))
        except (ClientError, ParamValidationError) as exc:
            raise RunStopped(self.report.scrub(
                f"the {side.name} could not be read ({operation}: {_reason(exc)})")) from exc

    def run(self, source_account: str | None, send_activation_codes: bool) -> None:
        self.find_target_home()
        contacts, rotations, plans = self.source_contacts(source_account)
        done: dict[str, str] = {}                 # source contact ARN -> target ARN
        for contact in contacts:
            if contact["Type"] == "PERSONAL":
                self.person(contact, done)
        for rotation in rotations:
            self.rotation(rotation)
        planned = self.with_plans(contacts, plans, done)
        for contact in contacts:
            if contact["ContactArn"] in done and contact["ContactArn"] not in planned:
                self.plan(contact["Alias"], plans[contact["ContactArn"]],
                          contact["ContactArn"], done[contact["ContactArn"]])
        for contact in contacts:
            if contact["ContactArn"] in done:
                self.policy(contact["Alias"], contact["ContactArn"],
                            done[contact["ContactArn"]])
        if send_activation_codes:
            self.send_activation_codes()

    def find_target_home(self) -> None:
        """The target's own rotations (never shared with it) name its account and region."""
        owned = {arn_home(r["RotationArn"])
                 for r in self.listed(self.target, "list_rotations", "Rotations")}
        accounts = {home[2] for home in owned}
        if self.target_account is not None and accounts - {self.target_account}:
            raise AccountUnknown(f"the target's rotations are of account "
                                 f"{', '.join(sorted(accounts))}, not of --target-account "
                                 f"{self.target_account}")
        if len(owned) == 1:
            self.mapping.target_home = owned.pop()

    def source_contacts(self, source_account: str | None) -> tuple[
            list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        """The source's own contacts that could be read, its own rotations, and the contacts'
        plans by ARN. Contacts shared from other accounts are reported as skipped."""
        report, mapping = self.report, self.mapping
        listed = self.listed(self.source, "list_contacts", "Contacts")
        rotations = self.listed(self.source, "list_rotations", "Rotations")
        home = source_home(listed, rotations, source_account)
        if home is not None:
            mapping.home = home
        contacts, plans = [], {}
        for contact in listed:
            arn = contact["ContactArn"]
            if arn_home(arn) != mapping.home:
                report.add("contact", contact["Alias"], "skipped",
                           f"shared from account {arn_home(arn)[2]}; not copied")
                continue
            mapping.known.add(arn)
            with self.item("contact", contact["Alias"]) as item:
                plans[arn] = self.source.call("get_contact", ContactId=arn).get("Plan", {})
            if not item.failed:
                contacts.append(contact)
            else:
                mapping.unlisted.add(arn)
        return contacts, [r for r in rotations if arn_home(r["RotationArn"]) == mapping.home], plans

    def person(self, contact: dict[str, Any], done: dict[str, str]) -> None:
        """A PERSONAL contact and its channels (its plan, naming them, comes later)."""
        arn = self.contact(contact, None)
        if arn is not None:
            done[contact["ContactArn"]] = self.mapping.arns[contact["ContactArn"]] = arn
            self.channels(contact["Alias"], contact["ContactArn"], arn)
        else:       # what refers to its channels fails rather than dropping them
            self.mapping.unlisted.add(contact["ContactArn"])

    def with_plans(self, contacts: list[dict[str, Any]], plans: dict[str, Any],
                   done: dict[str, str]) -> set[str]:
        """Schedules, then escalation plans (which may name schedules), each created with its
        plan mapped. Returns the source ARNs created with their plan in this run."""
        report, mapping = self.report, self.mapping
        planned: set[str] = set()
        for kind in ("ONCALL_SCHEDULE", "ESCALATION"):
            for contact in contacts:
                if contact["Type"] != kind:
                    continue
                notes: list[str] = []
                try:
                    plan = mapping.map_plan(plans[contact["ContactArn"]], notes)
                except NotCopied as exc:
                    report.add("contact", contact["Alias"], "failed", f"plan: {exc}")
                    continue
                arn = self.contact(contact, plan)
                if arn is not None:
                    done[contact["ContactArn"]] = mapping.arns[contact["ContactArn"]] = arn
                    if arn not in self.matched:          # created with its plan
                        planned.add(contact["ContactArn"])
                        report.notes.extend(f"{contact['Alias']}: {note}" for note in notes)
        return planned


def source_home(contacts: list[dict[str, Any]], rotations: list[dict[str, Any]],
                account: str | None) -> tuple[str, str, str] | None:
    """(partition, region, account) of the contacts to copy: those of ``account`` when given;
    else of the rotations (which are never shared from another account); else of the
    contacts when they are all of one account. Raises AccountUnknown when the listing holds
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
    raise AccountUnknown(f"the source lists contacts of several accounts ({accounts}): name "
                         "the account to copy with --source-account")


def copy_contacts(source: Any, target: Any, *, dry_run: bool = False, update: bool = False,
                  send_activation_codes: bool = False, now: datetime | None = None,
                  source_account: str | None = None,
                  target_account: str | None = None) -> Report:
    """Copy every contact, channel, rotation, override, plan, policy and tag of the source
    client's account and region to the target client's. Nothing is written in a dry run;
    matched items are updated to the source's only with ``update``.

    ``source_account``: the account whose contacts are copied (a server may list contacts
    other accounts share with the caller; those are skipped); by default found by
    :func:`source_home`, which raises AccountUnknown (a ValueError) when it cannot tell.
    ``target_account``: the target's own account, to tell its contacts from those shared with
    it before anything is written (by default learned from its rotations or what is written).

    Any other error is in the report: an item's fails that item, and one that every later
    call would meet (see :mod:`incident_contacts.copy_report`) stops the run, with the
    reason in ``Report.stopped``; the report then holds what was done until then."""
    report = Report(dry_run=dry_run, update=update)
    job = _Copy(Side(source, "source", report), Side(target, "target", report), report,
                now or datetime.now(UTC), target_account)
    try:
        job.run(source_account, send_activation_codes)
    except AccountUnknown:
        raise
    except RunStopped as exc:
        report.stopped = exc.reason
    except KeyboardInterrupt:
        report.stopped = "interrupted"
    except Exception as exc:            # the summary is given whatever happened
        report.stopped = report.scrub(f"unexpected error ({type(exc).__name__}: {exc})")
    waiting = [name for name, _ in job.to_activate] if not send_activation_codes else []
    if waiting:
        report.notes.append(f"{len(waiting)} channels wait for activation on the target: run "
                            "again with --send-activation-codes, or activate them one by one")
    report.notes.append(NOT_COPIED)
    return report


__all__ = ["NOT_COPIED", "OVERRIDE_HORIZON", "AccountUnknown", "Outcome", "Report",
           "copy_contacts", "source_home"]
