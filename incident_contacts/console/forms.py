"""What the console's forms ask of the API.

Each action turns a submitted form into one API operation and its parameters, the message
to show when it succeeds, and the page to go to then. The API does the checking, as it does
for any client: the console only refuses what it cannot put into a request at all (minutes
that are not a number, a deletion not confirmed) with a :class:`FormError`.

The plan editor sends one row of fields per stage, numbered from 0, and one blank row more
for a new stage::

    stages=3
    stage-0-minutes=0        stage-0-target-0=<channel or contact ARN>   stage-0-essential-0=on
    stage-1-minutes=5        stage-1-target-2=<ARN>   stage-1-retry-2=10   stage-1-remove=on
    stage-2-minutes=         (the blank row: left out while it names no target)

A target is in the stage while its box is ticked (the field holds its ARN). PERSONAL
contacts' stages name channels (with an optional retry interval); ESCALATION plans' stages
name contacts (essential or not). An ONCALL_SCHEDULE's plan is its rotations
(``rotation-N=<ARN>``).

With up to ``BOXED_OPTIONS`` choices every row offers each of them as a box. With more (an
escalation plan in an account of 500 contacts), a row would repeat them all, so it shows only
its own targets as boxes and ``ADD_SLOTS`` text fields after them, named as boxes are
(``stage-R-target-K``), each suggesting from the one list of choices the page holds (a
``<datalist>``, no script needed): a field holds a contact's alias or an ARN
(:func:`target_id`). A blank field is left out.

Rotation and override forms are read by :mod:`incident_contacts.console.rotation_forms`.
Tags are added (or given a new value) one at a time (``key``, ``value``) and removed one at a
time (``key``). A contact policy is a JSON textarea (``policy``), sent as written but for
line ends: a browser ends a textarea's lines with CR LF, which become LF, so a policy shown and
sent back unchanged is stored unchanged (unless the API was given one with CR LF line ends).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from incident_contacts.console import rotation_forms
from incident_contacts.console.fields import WHOLE, Action, FormError, confirmed, text, whole
from incident_contacts.service import arns
from incident_contacts.service.context import Caller

MAX_STAGE_ROWS = 101
"""Stage rows a plan form may send: a plan's stages are numbered up to 100 (``StageIndex``)."""

BOXED_OPTIONS = 12
"""Choices up to which every stage row offers each as a box; beyond, the page lists them once."""

ADD_SLOTS = 3
"""Fields a stage row has for targets to add, when the choices are listed once."""

_TARGET = re.compile(r"stage-([0-9]{1,3})-target-([0-9]{1,4})")
_ROTATION = re.compile(r"rotation-([0-9]{1,4})")


def contact_page(arn: str) -> str:
    return "/console/contact?" + urlencode({"arn": arn})


def engagement_page(arn: str) -> str:
    return "/console/engagement?" + urlencode({"arn": arn})


def _ticked(form: Mapping[str, str],
            pattern: re.Pattern[str]) -> list[tuple[tuple[int, ...], str]]:
    """The ticked fields a pattern numbers: (their numbers, their value), in number order."""
    found = []
    for key, value in form.items():
        match = pattern.fullmatch(key)
        if match and value.strip():     # a field to add a target to, left blank
            found.append((tuple(int(group) for group in match.groups()), value.strip()))
    return sorted(found)


def rotations_of(form: Mapping[str, str]) -> list[str]:
    return [value for _, value in _ticked(form, _ROTATION)]


def target_id(value: str, contact_type: str, caller: Caller | None) -> str:
    """What a plan form's target field names, as the API wants it: an ARN as it is; in an
    escalation plan, anything else is the alias of a contact of the caller's account and
    region (in any case: aliases are lower case). The API checks what it names."""
    if value.startswith("arn:") or contact_type != "ESCALATION" or caller is None:
        return value
    return arns.contact_arn(caller.region, caller.account, value.lower())


def stages_of(form: Mapping[str, str], contact_type: str,
              caller: Caller | None = None) -> list[dict[str, Any]]:
    """The ``Plan.Stages`` a plan form describes (see the module's docstring); ``caller``
    reads the aliases typed into an escalation plan's fields."""
    rows = form.get("stages", "0")
    if not WHOLE.fullmatch(rows) or int(rows) > MAX_STAGE_ROWS:
        raise FormError(f"A plan has at most {MAX_STAGE_ROWS - 1} stages.")
    targets: dict[int, list[tuple[int, str]]] = {}
    for (row, index), value in _ticked(form, _TARGET):
        targets.setdefault(row, []).append((index, target_id(value, contact_type, caller)))
    stages: list[dict[str, Any]] = []
    for row in range(int(rows)):
        if form.get(f"stage-{row}-remove"):
            continue
        minutes = form.get(f"stage-{row}-minutes", "").strip()
        ticked = targets.get(row, [])
        if not minutes and not ticked:
            continue  # the blank row for a new stage, left blank
        number = len(stages) + 1
        stage: dict[str, Any] = {
            "DurationInMinutes": whole(minutes, f"Stage {number}: the wait"),
            "Targets": [_target(form, contact_type, row, index, arn, number)
                        for index, arn in ticked],
        }
        stages.append(stage)
    return stages


def _target(form: Mapping[str, str], contact_type: str, row: int, index: int, arn: str,
            number: int) -> dict[str, Any]:
    if contact_type == "ESCALATION":
        return {"ContactTargetInfo": {
            "ContactId": arn, "IsEssential": bool(form.get(f"stage-{row}-essential-{index}"))}}
    info: dict[str, Any] = {"ContactChannelId": arn}
    retry = form.get(f"stage-{row}-retry-{index}", "").strip()
    if retry:
        info["RetryIntervalInMinutes"] = whole(
            retry, f"Stage {number}: the interval between retries")
    return {"ChannelTargetInfo": info}


def _plan(form: Mapping[str, str], caller: Caller) -> dict[str, Any]:
    contact_type = form.get("type", "")
    if contact_type == "ONCALL_SCHEDULE":
        return {"RotationIds": rotations_of(form)}
    return {"Stages": stages_of(form, contact_type, caller)}


# -- the actions ------------------------------------------------------------------------------


def _send_code(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("SendActivationCode", {"ContactChannelId": form.get("arn", "")},
                  "An activation code is on its way.")


def _activate(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("ActivateContactChannel",
                  {"ContactChannelId": form.get("arn", ""),
                   "ActivationCode": form.get("code", "").strip()},
                  "The channel is activated.")


def _deactivate(form: Mapping[str, str], caller: Caller) -> Action:
    # Pages stop going to the channel, and activating it again takes a new code from it.
    confirmed(form, "channel", "deactivated")
    return Action("DeactivateContactChannel", {"ContactChannelId": form.get("arn", "")},
                  "The channel is deactivated.")


def _acknowledge(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("AcceptPage",
                  {"PageId": form.get("arn", ""), "AcceptType": "READ",
                   "AcceptCode": form.get("code", "").strip(),
                   "AcceptCodeValidation": "ENFORCE", "Note": "Acknowledged in the console."},
                  "The page is acknowledged.")


def _stop(form: Mapping[str, str], caller: Caller) -> Action:
    confirmed(form, "engagement", "stopped")
    return Action("StopEngagement",
                  {"EngagementId": form.get("arn", ""), "Reason": text(form, "reason")},
                  "The engagement is stopped.")


def _create_contact(form: Mapping[str, str], caller: Caller) -> Action:
    contact_type = form.get("type", "")
    plan: dict[str, Any] = {"Stages": []}
    if contact_type == "ONCALL_SCHEDULE":
        plan = {"RotationIds": rotations_of(form)}
    return Action("CreateContact",
                  {"Alias": form.get("alias", "").strip(), "DisplayName": text(form, "name"),
                   "Type": contact_type, "Plan": plan},
                  "The contact is created.",
                  then=lambda answer: contact_page(answer["ContactArn"]))


def _rename_contact(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("UpdateContact",
                  {"ContactId": form.get("arn", ""), "DisplayName": form.get("name", "").strip()},
                  "The contact's name is changed.")


def _delete_contact(form: Mapping[str, str], caller: Caller) -> Action:
    confirmed(form, "contact")
    return Action("DeleteContact", {"ContactId": form.get("arn", "")},
                  "The contact is deleted.", then=lambda _answer: "/console/contacts")


def _update_plan(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("UpdateContact", {"ContactId": form.get("arn", ""), "Plan": _plan(form, caller)},
                  "The plan is saved.")


def _add_channel(form: Mapping[str, str], caller: Caller) -> Action:
    defer = form.get("defer") == "yes"
    return Action("CreateContactChannel",
                  {"ContactId": form.get("arn", ""), "Name": form.get("name", "").strip(),
                   "Type": form.get("type", ""),
                   "DeliveryAddress": {"SimpleAddress": form.get("address", "").strip()},
                   "DeferActivation": defer},
                  "The channel is added. Send it a code when you are ready to activate it."
                  if defer else "The channel is added, and an activation code is on its way.")


def _delete_channel(form: Mapping[str, str], caller: Caller) -> Action:
    confirmed(form, "channel")
    return Action("DeleteContactChannel", {"ContactChannelId": form.get("arn", "")},
                  "The channel is deleted.")


def _engage(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("StartEngagement",
                  {"ContactId": form.get("arn", ""), "Sender": form.get("sender", "").strip(),
                   "Subject": form.get("subject", "").strip(),
                   "Content": form.get("content", "").strip(),
                   "PublicSubject": text(form, "public-subject"),
                   "PublicContent": text(form, "public-content")},
                  "The engagement has started.",
                  then=lambda answer: engagement_page(answer["EngagementArn"]))


def _tag(form: Mapping[str, str], caller: Caller) -> Action:
    """One tag, added or given a new value. Its value is sent as typed: a tag value may begin
    or end with a space."""
    return Action("TagResource",
                  {"ResourceARN": form.get("arn", ""),
                   "Tags": [{"Key": form.get("key", "").strip(),
                             "Value": form.get("value", "")}]},
                  "The tag is saved.")


def _untag(form: Mapping[str, str], caller: Caller) -> Action:
    return Action("UntagResource",
                  {"ResourceARN": form.get("arn", ""), "TagKeys": [form.get("key", "")]},
                  "The tag is removed.")


def _put_policy(form: Mapping[str, str], caller: Caller) -> Action:
    policy = form.get("policy", "").replace("\r\n", "\n")
    if not policy.strip():
        raise FormError("Write the policy, a JSON document. (A contact's policy can be "
                        "replaced, not removed: it goes with the contact.)")
    try:
        json.loads(policy)
    except ValueError as exc:
        raise FormError(f"The policy is not JSON: {exc}.") from None
    except RecursionError:      # "[[[[..." deeper than the parser's stack: a 500 otherwise
        raise FormError("The policy is not JSON: it is nested too deeply.") from None
    return Action("PutContactPolicy", {"ContactArn": form.get("arn", ""), "Policy": policy},
                  "The policy is saved.")


ACTIONS: dict[str, Callable[[Mapping[str, str], Caller], Action]] = {
    "send-code": _send_code,
    "activate": _activate,
    "deactivate": _deactivate,
    "acknowledge": _acknowledge,
    "stop": _stop,
    "create-contact": _create_contact,
    "rename-contact": _rename_contact,
    "delete-contact": _delete_contact,
    "update-plan": _update_plan,
    "add-channel": _add_channel,
    "delete-channel": _delete_channel,
    "engage": _engage,
    "create-rotation": rotation_forms.create_rotation,
    "update-rotation": rotation_forms.update_rotation,
    "delete-rotation": rotation_forms.delete_rotation,
    "create-override": rotation_forms.create_override,
    "delete-override": rotation_forms.delete_override,
    "tag": _tag,
    "untag": _untag,
    "put-policy": _put_policy,
}

PREVIEWS = frozenset({"create-rotation", "update-rotation"})
"""Actions whose form can show its shifts before it is sent (``POST /console/preview/...``)."""

LARGE_FORMS = frozenset({"put-policy"})
"""Actions whose form may be as large as a contact policy (395,000 characters)."""


# -- the plan editor's rows ---------------------------------------------------------------------


@dataclass
class TargetRow:
    arn: str
    label: str
    ticked: bool = False
    essential: bool = False
    retry: int | str | None = None      # text as typed, in a form shown again


@dataclass
class StageRow:
    minutes: int | str | None
    targets: list[TargetRow] = field(default_factory=list)
    removed: bool = False
    adds: int = 0       # fields to add targets with, after the targets (numbered on from them)


def boxed(options: list[tuple[str, str]]) -> bool:
    """Whether every stage row offers each choice as a box (else the page lists them once)."""
    return len(options) <= BOXED_OPTIONS


def _row(minutes: int | str | None, chosen: list[TargetRow], options: list[tuple[str, str]],
         removed: bool = False) -> StageRow:
    """A stage row: its own targets first, in their order (so saving keeps it), then the
    choices it did not take as boxes, or fields to add targets with."""
    if not boxed(options):
        return StageRow(minutes, chosen, removed, adds=ADD_SLOTS)
    taken = {target.arn for target in chosen}
    offered = sorted((TargetRow(arn, label) for arn, label in options if arn not in taken),
                     key=lambda target: target.label)
    return StageRow(minutes, [*chosen, *offered], removed)


def plan_rows(contact: Mapping[str, Any], options: list[tuple[str, str]]) -> list[StageRow]:
    """The editor's rows for a contact's stages, and a blank one for a new stage. Each row
    ticks the stage's targets; a target that is not among the options (a deleted channel, a
    contact past the list) is shown too, so saving the form never drops a target nobody
    unticked."""
    rows = []
    labels = dict(options)
    stages = (contact.get("Plan") or {}).get("Stages") or []
    for stage in [*stages, None]:
        chosen: dict[str, TargetRow] = {}
        for target in (stage or {}).get("Targets", []):
            channel, person = target.get("ChannelTargetInfo"), target.get("ContactTargetInfo")
            if channel:
                chosen[channel["ContactChannelId"]] = TargetRow(
                    channel["ContactChannelId"], "", True,
                    retry=channel.get("RetryIntervalInMinutes"))
            elif person:
                chosen[person["ContactId"]] = TargetRow(person["ContactId"], "", True,
                                                        essential=bool(person["IsEssential"]))
        for arn, row in chosen.items():
            row.label = labels.get(arn) or short(arn)
        rows.append(_row(None if stage is None else stage["DurationInMinutes"],
                         list(chosen.values()), options))
    return rows


def kept_rows(form: Mapping[str, str], contact_type: str,
              options: list[tuple[str, str]]) -> list[StageRow]:
    """The editor's rows as a plan form that failed sent them, to be corrected: each row's
    minutes, targets (ticked, or typed into a field to add one) with their retry intervals or
    essential boxes, and remove box as typed, then the options it did not tick (or fields to
    add targets with, :func:`boxed`), and a blank row for a new stage when the last row was
    used."""
    count = form.get("stages", "0")
    rows = min(int(count), MAX_STAGE_ROWS) if WHOLE.fullmatch(count) else 0
    labels = dict(options)
    targets: dict[int, list[tuple[int, str]]] = {}
    for (row, index), value in _ticked(form, _TARGET):
        targets.setdefault(row, []).append((index, value))
    result = []
    for row in range(rows):
        chosen = {arn: TargetRow(arn, labels.get(arn) or short(arn), True,
                                 essential=bool(form.get(f"stage-{row}-essential-{index}")),
                                 retry=form.get(f"stage-{row}-retry-{index}", ""))
                  for index, arn in targets.get(row, [])}
        result.append(_row(form.get(f"stage-{row}-minutes", ""), list(chosen.values()),
                           options, removed=bool(form.get(f"stage-{row}-remove"))))
    last = result[-1] if result else None
    if last is None or last.minutes or any(t.ticked for t in last.targets):
        result.append(_row(None, [], options))
    return result


def short(arn: str) -> str:
    """The part of an ARN a person recognises: what follows its kind."""
    parsed = arns.parse(arn)
    return "/".join(parsed.parts) if parsed is not None else arn


__all__ = ["ACTIONS", "ADD_SLOTS", "BOXED_OPTIONS", "LARGE_FORMS", "PREVIEWS", "Action",
           "FormError", "StageRow", "TargetRow", "boxed", "kept_rows", "plan_rows",
           "rotations_of", "short", "stages_of", "target_id"]
