"""Escalation planning as plain functions: engagement state, a plan and a time in, actions out.

Nothing here reads the database or the clock; :mod:`incident_contacts.engine.runner` gathers
the state, calls these functions and carries out what they answer. The rules (spec §6.3 with
its [INF] recommendations, decisions §5):

* Stage 0 of a plan starts when it is engaged; stage n+1 starts ``DurationInMinutes`` of stage
  n later, counted from when stage n was due (not from when a busy engine got to it), so a
  late engine catches up instead of drifting.
* A personal stage pages each of its channels that is ``ACTIVATED``; the others are skipped
  and the skip is recorded.
* A page whose delivery failed is sent again ``RetryIntervalInMinutes`` later (never when the
  interval is 0), at most :data:`MAX_PAGE_RETRIES` times, unless it was read or its plan
  stopped meanwhile.
* A READ stops the rest of that person's plan; when the person was an essential contact of an
  escalation stage, no further escalation stage starts either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from incident_contacts.parsed import ParsedTexts
from incident_contacts.service import arns

MAX_PAGE_RETRIES = 3
"""Sends of one page after the first, each after a failed delivery."""

TOP_LEVEL = -1
"""The escalation stage of a person the engaged contact itself resolved to."""


@dataclass(frozen=True)
class ChannelTarget:
    channel_arn: str
    channel_id: str               # the uuid of the channel ARN; "" when the ARN is not one
    retry_minutes: int


@dataclass(frozen=True)
class ContactTarget:
    contact_arn: str
    alias: str                    # "" when the ARN is not a contact's
    essential: bool


@dataclass(frozen=True)
class Stage:
    duration_minutes: int
    channels: tuple[ChannelTarget, ...] = ()
    contacts: tuple[ContactTarget, ...] = ()


def parse_stages(plan: Mapping[str, Any]) -> list[Stage]:
    """The stages of a stored plan (``{"Stages": [...]}``), in order."""
    stages: list[Stage] = []
    for raw in plan.get("Stages") or []:
        channels: list[ChannelTarget] = []
        contacts: list[ContactTarget] = []
        for target in raw.get("Targets") or []:
            channel = target.get("ChannelTargetInfo")
            contact = target.get("ContactTargetInfo")
            if channel is not None:
                arn = arns.parse(channel["ContactChannelId"])
                channel_id = arn.parts[1] if arn is not None and len(arn.parts) == 2 else ""
                channels.append(ChannelTarget(channel["ContactChannelId"], channel_id,
                                              int(channel.get("RetryIntervalInMinutes") or 0)))
            elif contact is not None and contact.get("ContactId"):
                arn = arns.parse(contact["ContactId"])
                alias = arn.parts[0] if arn is not None and len(arn.parts) == 1 else ""
                contacts.append(ContactTarget(contact["ContactId"], alias,
                                              bool(contact.get("IsEssential"))))
        stages.append(Stage(int(raw.get("DurationInMinutes") or 0), tuple(channels),
                            tuple(contacts)))
    return stages


PARSED_PLANS = 16
"""Parsed plans kept by :func:`stages_of`: a plan of 100 stages of 100 targets is ~1 MiB of
JSON, which each stage of its engagement would otherwise read again (a fan-out of one
StartEngagement into stages x plan size of work)."""


def stages_of(text: str | bytes) -> tuple[Stage, ...]:
    """The stages of a stored plan given as its JSON text, parsed once while kept (the last
    :data:`PARSED_PLANS` texts, named by a digest of the text, never by a row id)."""
    return _PLANS.get(text)


_PLANS: ParsedTexts[tuple[Stage, ...]] = ParsedTexts(
    lambda data: tuple(parse_stages(orjson.loads(data))), PARSED_PLANS)


def stage_start(start: float, stages: Sequence[Stage], index: int) -> float:
    """When stage ``index`` of a plan engaged at ``start`` begins."""
    return start + 60.0 * sum(s.duration_minutes for s in stages[:index])


def _next(stages: Sequence[Stage], index: int, due: float) -> tuple[int | None, float | None]:
    if index + 1 >= len(stages):
        return None, None
    return index + 1, due + 60.0 * stages[index].duration_minutes


# -- a person's engagement plan ---------------------------------------------------------------


@dataclass(frozen=True)
class ChannelState:
    """A channel as the engine finds it when its stage starts; None where it was deleted."""

    channel_type: str
    activated: bool


@dataclass(frozen=True)
class Skip:
    target: ChannelTarget
    reason: str                   # NOT_ACTIVATED | CHANNEL_NOT_FOUND


@dataclass(frozen=True)
class TrackStep:
    pages: tuple[ChannelTarget, ...] = ()
    skipped: tuple[Skip, ...] = ()
    next_stage: int | None = None
    next_due: float | None = None


def plan_track_stage(stages: Sequence[Stage], index: int, due: float,
                     channels: Mapping[str, ChannelState | None], *,
                     halted: bool) -> TrackStep:
    """What stage ``index`` of a person's plan does when it is due at ``due``.

    ``channels`` maps each target's channel id to its state (None: it no longer exists).
    ``halted``: the person acknowledged or the engagement stopped, so nothing happens.
    """
    if halted or index >= len(stages):
        return TrackStep()
    pages: list[ChannelTarget] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for target in stages[index].channels:
        if target.channel_id in seen:
            continue  # one page per channel and stage, however often the plan names it
        seen.add(target.channel_id)
        state = channels.get(target.channel_id)
        if state is None:
            skipped.append(Skip(target, "CHANNEL_NOT_FOUND"))
        elif not state.activated:
            skipped.append(Skip(target, "NOT_ACTIVATED"))
        else:
            pages.append(target)
    next_stage, next_due = _next(stages, index, due)
    return TrackStep(tuple(pages), tuple(skipped), next_stage, next_due)


# -- an escalation plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationStep:
    engage: tuple[ContactTarget, ...] = ()
    next_stage: int | None = None
    next_due: float | None = None


def plan_escalation_stage(stages: Sequence[Stage], index: int, due: float, *,
                          halted: bool) -> EscalationStep:
    """What stage ``index`` of an escalation plan does when due. ``halted``: the engagement
    stopped, or an essential contact acknowledged."""
    if halted or index >= len(stages):
        return EscalationStep()
    unique: dict[str, ContactTarget] = {}
    for target in stages[index].contacts:
        known = unique.get(target.alias)
        # Named twice in one stage: engaged once, essential if either mention says so.
        unique[target.alias] = target if known is None else ContactTarget(
            known.contact_arn, known.alias, known.essential or target.essential)
    next_stage, next_due = _next(stages, index, due)
    return EscalationStep(tuple(unique.values()), next_stage, next_due)


# -- failed deliveries and acknowledgements --------------------------------------------------


def retry_due(*, retries_done: int, interval_minutes: int, failed_at: float,
              read: bool, halted: bool) -> float | None:
    """When a page whose delivery failed is sent again, or None."""
    if read or halted or interval_minutes <= 0 or retries_done >= MAX_PAGE_RETRIES:
        return None
    return failed_at + 60.0 * interval_minutes


@dataclass(frozen=True)
class OpenTrack:
    track_pk: int
    essential: bool


@dataclass(frozen=True)
class Acknowledgement:
    stop_tracks: tuple[int, ...] = ()
    stop_escalation: bool = False


def acknowledge(open_tracks: Iterable[OpenTrack], *, escalation_running: bool,
                page_track_essential: bool) -> Acknowledgement:
    """A READ by a person: every plan of theirs still running in the engagement stops, and
    when they were engaged as an essential contact the escalation stops too."""
    tracks = list(open_tracks)
    essential = page_track_essential or any(t.essential for t in tracks)
    return Acknowledgement(tuple(t.track_pk for t in tracks),
                           escalation_running and essential)


# -- resolution paths ----------------------------------------------------------------------


@dataclass(frozen=True)
class PathNode:
    contact_arn: str
    contact_type: str
    stage_index: int | None = None

    def wire(self) -> dict[str, Any]:
        node: dict[str, Any] = {"ContactArn": self.contact_arn, "Type": self.contact_type}
        if self.stage_index is not None:
            node["StageIndex"] = self.stage_index
        return node


@dataclass(frozen=True)
class Resolution:
    """How the engaged contact reached one person (or, with ``person`` None, nobody)."""

    nodes: tuple[PathNode, ...] = field(default_factory=tuple)

    def wire(self) -> list[dict[str, Any]]:
        return [node.wire() for node in self.nodes]


def resolution(engaged: PathNode, *, stage: int, via: PathNode | None,
               person_arn: str | None) -> Resolution:
    """The path from the engaged contact down to the person (decisions §5).

    PERSONAL: ``[person]``. Escalation: ``[plan, person]``, the person carrying the index of
    the stage that engaged them (the model: "the stage in the escalation plan that resolves
    to this contact"). On-call schedule: ``[schedule, person]``; through an escalation,
    ``[plan, schedule (stage index), person]``. Rotations are not contacts and are not on it.
    """
    if engaged.contact_type == "PERSONAL":
        return Resolution((engaged,))
    nodes: list[PathNode] = [engaged]
    if engaged.contact_type == "ESCALATION":
        if via is None:
            return Resolution(tuple(nodes))
        nodes.append(PathNode(via.contact_arn, via.contact_type, stage))
        if via.contact_type == "PERSONAL":
            return Resolution(tuple(nodes))
    if person_arn is not None:
        nodes.append(PathNode(person_arn, "PERSONAL"))
    return Resolution(tuple(nodes))


__all__ = [
    "MAX_PAGE_RETRIES",
    "TOP_LEVEL",
    "Acknowledgement",
    "ChannelState",
    "ChannelTarget",
    "ContactTarget",
    "EscalationStep",
    "OpenTrack",
    "PathNode",
    "Resolution",
    "Skip",
    "Stage",
    "TrackStep",
    "acknowledge",
    "parse_stages",
    "plan_escalation_stage",
    "plan_track_stage",
    "resolution",
    "retry_due",
    "stage_start",
    "stages_of",
]
