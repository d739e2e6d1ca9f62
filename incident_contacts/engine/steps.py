"""The steps of an engagement, as the runner carries them out inside one transaction each.

Each step reads the state it needs, asks :mod:`~incident_contacts.engine.planner` what to do,
and writes the result: tracks, pages, outbox messages, the next timers and the log. The
caller holds the engagement's row lock and removes the step's timer in the same transaction,
so a step either happens whole or not at all, and a replay after a crash finds the timer
still there and the state as it was before.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.delivery import text
from incident_contacts.engine import planner, timers
from incident_contacts.ids import new_id
from incident_contacts.service import arns, outbox
from incident_contacts.service.channels import open_address
from incident_contacts.service.context import Caller, RequestContext
from incident_contacts.service.engagements import contact_arn, open_texts, record_event
from incident_contacts.service.oncall import schedule_on_call
from incident_contacts.service.pages import accept_code_hash, page_arn
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.core import channels, contacts
from incident_contacts.store.schema.delivery import outbox as outbox_table
from incident_contacts.store.schema.engagements import engagement_tracks, pages

# Built once, run with parameters: a statement's construction costs more than running it on
# SQLite, and these run for every page.
_CONTACT = Prepared(sa.select(contacts).where(contacts.c.account == sa.bindparam("account"),
                                              contacts.c.region == sa.bindparam("region"),
                                              contacts.c.alias == sa.bindparam("alias")))
_CHANNEL_OF_ACCOUNT = Prepared(sa.select(channels).where(
    channels.c.channel_id == sa.bindparam("channel_id"),
    channels.c.account == sa.bindparam("account"),
    channels.c.region == sa.bindparam("region"),
))
_CHANNEL = Prepared(sa.select(channels)
                    .where(channels.c.channel_id == sa.bindparam("channel_id")))
_INSERT_TRACK = insert_of(engagement_tracks, "engagement_pk", "person_alias", "target_alias",
                          "escalation_stage", "essential", "path", "plan", "started_at",
                          "stopped_at", returning_id=True)
_INSERT_PAGE = insert_of(pages, "page_id", "account", "region", "engagement_pk", "track_pk",
                         "contact_alias", "stage", "channel_id", "channel_type",
                         "retry_interval", "accept_code_hash", "created_at", "worker")
_PAGE = Prepared(sa.select(pages).where(pages.c.id == sa.bindparam("page_pk")))
_TRACK = Prepared(sa.select(engagement_tracks)
                  .where(engagement_tracks.c.id == sa.bindparam("track_pk")))
_LAST_MESSAGE = Prepared(
    sa.select(outbox_table)
    .where(outbox_table.c.channel_arn == sa.bindparam("channel_arn"),
           outbox_table.c.page_arn == sa.bindparam("page_arn"))
    .order_by(outbox_table.c.id.desc()).limit(1)
)
_MAKE_ESSENTIAL = Prepared(engagement_tracks.update()
                           .where(engagement_tracks.c.id == sa.bindparam("track_pk"))
                           .values(essential=True))
_NEW_CODE = Prepared(pages.update().where(pages.c.id == sa.bindparam("page_pk"))
                     .values(accept_code_hash=sa.bindparam("code_hash")))


@dataclass
class Step:
    """What one step works with; ``queued`` counts the messages it handed to the outbox."""

    runtime: Any
    conn: Connection
    worker_id: str
    engagement: Row[Any]
    queued: int = 0
    _texts: dict[str, str | None] | None = field(default=None, repr=False)

    @property
    def now(self) -> float:
        now: float = self.runtime.clock.now()
        return now

    def texts(self) -> dict[str, str | None]:
        if self._texts is None:
            self._texts = open_texts(self.runtime, self.engagement)
        return self._texts

    def context(self) -> RequestContext:
        """A request context for the service helpers (the outbox) outside any request."""
        engagement = self.engagement
        return RequestContext(Caller(engagement.account, engagement.region), self.conn,
                              self.runtime, "Engine", self.worker_id)

    def event(self, kind: str, **detail: Any) -> None:
        record_event(self.conn, self.engagement.id, self.now, kind, **detail)


def _engaged(step: Step) -> planner.PathNode:
    return planner.PathNode(contact_arn(step.engagement), step.engagement.contact_type)


def _contact(step: Step, alias: str) -> Any:
    engagement = step.engagement
    return _CONTACT.first(step.conn, {"account": engagement.account,
                                      "region": engagement.region, "alias": alias})


# -- ENGAGE and ESCALATE -----------------------------------------------------------------------


def engage(step: Step, due: float) -> None:
    """Stage 0 of everything: the engaged contact resolves to people, each paged at once."""
    engagement = step.engagement
    if engagement.stop_time is not None:
        return
    plan = orjson.loads(engagement.plan)
    if engagement.contact_type == "PERSONAL":
        start_track(step, person_alias=engagement.contact_alias,
                    target_alias=engagement.contact_alias, stage=planner.TOP_LEVEL,
                    essential=False, resolution=planner.resolution(
                        _engaged(step), stage=planner.TOP_LEVEL, via=None, person_arn=None),
                    plan=plan, at=due)
    elif engagement.contact_type == "ONCALL_SCHEDULE":
        engage_schedule(step, alias=engagement.contact_alias, plan=plan,
                        stage=planner.TOP_LEVEL, essential=False, at=due)
    else:
        escalate(step, 0, due)


def escalate(step: Step, index: int, due: float) -> None:
    """Stage ``index`` of an escalation plan: engage its contacts, schedule the next stage."""
    engagement = step.engagement
    stages = planner.stages_of(engagement.plan)
    halted = engagement.stop_time is not None or engagement.escalation_stopped_at is not None
    decision = planner.plan_escalation_stage(stages, index, due, halted=halted)
    # A person reached twice in one stage (named, and on call in a schedule the stage also
    # names) is paged once, through the first of the stage's targets that reaches them; the
    # person's track is essential when any of those targets is.
    engaged: dict[str, int] = {}
    for target in decision.engage:
        contact = _contact(step, target.alias) if target.alias else None
        if contact is None or contact.type == "ESCALATION":
            step.event("CONTACT_SKIPPED", ContactArn=target.contact_arn, Stage=index,
                       Reason="CONTACT_NOT_FOUND" if contact is None else "NOT_ENGAGEABLE",
                       Resolution=[_engaged(step).wire()])
        elif contact.type == "PERSONAL":
            if _reached_again(step, engaged, contact.alias, target.essential):
                continue
            via = planner.PathNode(target.contact_arn, "PERSONAL")
            engaged[contact.alias] = start_track(
                step, person_alias=contact.alias, target_alias=contact.alias, stage=index,
                essential=target.essential,
                resolution=planner.resolution(_engaged(step), stage=index, via=via,
                                              person_arn=None),
                plan=orjson.loads(contact.plan), at=due)
        else:
            engage_schedule(step, alias=contact.alias, plan=orjson.loads(contact.plan),
                            stage=index, essential=target.essential, at=due, engaged=engaged)
    if decision.next_stage is not None and decision.next_due is not None:
        timers.schedule(step.conn, key=f"escalate:{engagement.id}:{decision.next_stage}",
                        kind=timers.ESCALATE, due_at=decision.next_due,
                        engagement_pk=engagement.id, stage=decision.next_stage)


def _reached_again(step: Step, engaged: dict[str, int], alias: str, essential: bool) -> bool:
    """Whether the stage has engaged the person already; an essential mention then makes
    their track essential, so that their READ stops the escalation as the plan says."""
    track_pk = engaged.get(alias)
    if track_pk is None:
        return False
    if essential:
        _MAKE_ESSENTIAL.execute(step.conn, {"track_pk": track_pk})
    return True


def engage_schedule(step: Step, *, alias: str, plan: dict[str, Any], stage: int,
                    essential: bool, at: float, engaged: dict[str, int] | None = None) -> None:
    """An on-call schedule engages whoever its rotations put on call at ``at``; nobody on
    call (a rotation not started yet, a gap in its coverage) is recorded with the path.
    ``engaged``: the people the stage has already engaged (alias to track), who are not
    engaged again (and who are added to it)."""
    engagement = step.engagement
    via = planner.PathNode(arns.contact_arn(engagement.region, engagement.account, alias),
                           "ONCALL_SCHEDULE")
    on_call = schedule_on_call(step.conn, plan, at)
    if not on_call:
        step.event("NOBODY_ON_CALL", Stage=None if stage < 0 else stage,
                   Resolution=planner.resolution(_engaged(step), stage=stage, via=via,
                                                 person_arn=None).wire())
    for rotation_arn, person_arn in on_call:
        parsed = arns.parse(person_arn)
        person = _contact(step, parsed.parts[0]) if parsed is not None else None
        path = planner.resolution(_engaged(step), stage=stage, via=via, person_arn=person_arn)
        if person is None or person.type != "PERSONAL":
            step.event("CONTACT_SKIPPED", ContactArn=person_arn, RotationArn=rotation_arn,
                       Reason="CONTACT_NOT_FOUND", Resolution=path.wire())
            continue
        if engaged is not None and _reached_again(step, engaged, person.alias, essential):
            continue
        track_pk = start_track(step, person_alias=person.alias, target_alias=alias,
                               stage=stage, essential=essential, resolution=path,
                               plan=orjson.loads(person.plan), at=at)
        if engaged is not None:
            engaged[person.alias] = track_pk


# -- a person's plan -------------------------------------------------------------------------


def start_track(step: Step, *, person_alias: str, target_alias: str, stage: int,
                essential: bool, resolution: planner.Resolution, plan: dict[str, Any],
                at: float) -> int:
    """Begin paging one person through their plan (kept as it is now); stage 0 runs at once.
    Returns the track's row id."""
    values = {
        "engagement_pk": step.engagement.id, "person_alias": person_alias,
        "target_alias": target_alias, "escalation_stage": stage, "essential": essential,
        "path": orjson.dumps(resolution.wire()).decode(),
        "plan": orjson.dumps({"Stages": plan.get("Stages") or []}).decode(),
        "started_at": at, "stopped_at": None,
    }
    track = SimpleNamespace(id=_INSERT_TRACK.scalar(step.conn, values), **values)
    if not plan.get("Stages"):
        step.event("NO_STAGES", Resolution=resolution.wire())
        return int(track.id)
    track_stage(step, track, 0, at)
    return int(track.id)


def _channel_states(step: Step, stages: Sequence[planner.Stage],
                    index: int) -> tuple[dict[str, planner.ChannelState | None], dict[str, Any]]:
    ids = [t.channel_id for t in stages[index].channels if t.channel_id]
    # A stage names a few channels: one keyed lookup each.
    found = (_CHANNEL_OF_ACCOUNT.first(step.conn, {
        "channel_id": channel_id, "account": step.engagement.account,
        "region": step.engagement.region,
    }) for channel_id in dict.fromkeys(ids))
    rows = {row.channel_id: row for row in found if row is not None}
    states: dict[str, planner.ChannelState | None] = {
        channel_id: None if row is None
        else planner.ChannelState(row.type, row.activation_status == "ACTIVATED")
        for channel_id in ids for row in [rows.get(channel_id)]
    }
    return states, rows


def track_stage(step: Step, track: Any, index: int, due: float) -> None:
    """Stage ``index`` of a person's plan: page its activated channels, record the others,
    schedule the next stage."""
    stages = planner.stages_of(track.plan)
    halted = step.engagement.stop_time is not None or track.stopped_at is not None
    if halted or index >= len(stages):
        return
    states, rows = _channel_states(step, stages, index)
    decision = planner.plan_track_stage(stages, index, due, states, halted=False)
    resolution = orjson.loads(track.path)
    for skip in decision.skipped:
        step.event("CHANNEL_SKIPPED", ContactChannelArn=skip.target.channel_arn,
                   Reason=skip.reason, Stage=index, Resolution=resolution)
    for target in decision.pages:
        send_page(step, track, index, rows[target.channel_id], target.retry_minutes)
    if decision.next_stage is not None and decision.next_due is not None:
        timers.schedule(step.conn, key=f"track:{track.id}:{decision.next_stage}",
                        kind=timers.TRACK, due_at=decision.next_due,
                        engagement_pk=step.engagement.id, subject_pk=track.id,
                        stage=decision.next_stage)


def send_page(step: Step, track: Any, stage: int, channel: Row[Any],
              retry_minutes: int) -> None:
    """One page: its row (with the accept code's hash) and its message in the outbox."""
    engagement = step.engagement
    page_id = new_id()
    code = f"{secrets.randbelow(10**6):06d}"
    values = {
        "page_id": page_id, "account": engagement.account, "region": engagement.region,
        "engagement_pk": engagement.id, "track_pk": track.id,
        "contact_alias": track.person_alias, "stage": stage,
        "channel_id": channel.channel_id, "channel_type": channel.type,
        "retry_interval": retry_minutes,
        "accept_code_hash": accept_code_hash(step.runtime, page_id, code),
        "created_at": step.now, "worker": step.worker_id[:64],
    }
    _INSERT_PAGE.execute(step.conn, values)
    _enqueue(step, page_arn(SimpleNamespace(**values)), channel, track.person_alias, code)


def _enqueue(step: Step, arn: str, channel: Row[Any], person_alias: str, code: str) -> None:
    words = step.texts()
    message = text.page_text(channel.type, words["Subject"] or "", words["Content"] or "",
                             words["PublicSubject"], words["PublicContent"], code)
    ctx = step.context()
    outbox.enqueue(ctx, outbox.NewMessage(
        channel_arn=arns.channel_arn(channel.region, channel.account, person_alias,
                                     channel.channel_id),
        channel_type=channel.type, address=open_address(ctx, channel), purpose="PAGE",
        body=message.body, subject=message.subject, speech=message.speech, code=code,
        page_arn=arn,
    ))
    step.queued += 1


# -- RETRY -----------------------------------------------------------------------------------


def retry(step: Step, page_pk: int) -> None:
    """Send a page again after its delivery failed, with the same accept code, unless it was
    read, its plan stopped, or its channel is no longer activated."""
    page = _PAGE.first(step.conn, {"page_pk": page_pk})
    if page is None or page.read_time is not None or step.engagement.stop_time is not None:
        return
    track = _TRACK.first(step.conn, {"track_pk": page.track_pk})
    assert track is not None  # a page's track is a foreign key
    if track.stopped_at is not None:
        return
    channel = _CHANNEL.first(step.conn, {"channel_id": page.channel_id})
    resolution = orjson.loads(track.path)
    arn = page_arn(page)
    if channel is None or channel.activation_status != "ACTIVATED":
        step.event("RETRY_SKIPPED", PageArn=arn, Resolution=resolution,
                   Reason="CHANNEL_NOT_FOUND" if channel is None else "NOT_ACTIVATED")
        return
    channel_arn = arns.channel_arn(channel.region, channel.account, page.contact_alias,
                                   channel.channel_id)
    previous = _LAST_MESSAGE.first(step.conn, {"channel_arn": channel_arn, "page_arn": arn})
    code = None if previous is None else outbox.open_column(step.runtime, previous, "code")
    if code is None:
        # The first message is gone (the development outbox was emptied): a new code.
        code = f"{secrets.randbelow(10**6):06d}"
        _NEW_CODE.execute(step.conn, {
            "page_pk": page.id,
            "code_hash": accept_code_hash(step.runtime, page.page_id, code)})
    _enqueue(step, arn, channel, page.contact_alias, code)
    step.event("PAGE_RETRIED", PageArn=arn, Resolution=resolution)


__all__ = [
    "Step",
    "engage",
    "engage_schedule",
    "escalate",
    "retry",
    "send_page",
    "start_track",
    "track_stage",
]
