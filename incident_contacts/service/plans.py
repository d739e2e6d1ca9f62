"""The rules of a contact's plan that the model cannot express (spec §6.1).

* A PERSONAL contact's plan is an engagement plan: its targets are ``ChannelTargetInfo``
  naming the contact's own channels.
* An ESCALATION plan's targets are ``ContactTargetInfo`` naming PERSONAL or ONCALL_SCHEDULE
  contacts of the same account and region.
* An ONCALL_SCHEDULE contact has no stages, only ``RotationIds`` (at most 8), each an existing
  rotation of the same account and region. A schedule may have no rotation yet (DeleteRotation
  can leave it so); it then engages nobody.
* Each target is exactly one of the two kinds; a stage of zero minutes needs a target.

A reference to something that does not exist is a ValidationException on CreateContact (which
models no ResourceNotFoundException) and a ResourceNotFoundException on UpdateContact.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from incident_contacts.errors import ResourceNotFoundException, ValidationException
from incident_contacts.service import arns, rotations
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import at_home
from incident_contacts.store.schema.core import channels, contacts

MAX_ROTATIONS_PER_SCHEDULE = 8
ONCALL_STAGES_MESSAGE = (
    "Invalid value provided - ONCALL SCHEDULE contact cannot have stages in plan"
)

def _missing(ctx: RequestContext, path: str, given: str, kind: str, resource_type: str,
             creating: bool) -> Exception:
    if creating:
        return ValidationException.field(path, f"{kind} {given} does not exist.")
    return ResourceNotFoundException(
        f"{kind} {given} was not found.", resource_id=given, resource_type=resource_type
    )


def check_plan(ctx: RequestContext, contact_type: str, plan: dict[str, Any], *,
               contact_pk: int | None, creating: bool) -> None:
    stages = plan.get("Stages") or []
    rotation_ids = plan.get("RotationIds") or []
    if contact_type == "ONCALL_SCHEDULE":
        if stages:
            raise ValidationException.field("Plan.Stages", ONCALL_STAGES_MESSAGE)
        if len(rotation_ids) > MAX_ROTATIONS_PER_SCHEDULE:
            raise ValidationException.field(
                "Plan.RotationIds",
                f"An on-call schedule can have at most {MAX_ROTATIONS_PER_SCHEDULE} rotations.",
            )
        _check_rotations(ctx, rotation_ids, creating)
        return
    if rotation_ids:
        raise ValidationException.field(
            "Plan.RotationIds", "Only an ONCALL_SCHEDULE contact's plan can have rotations."
        )
    for s, stage in enumerate(stages):
        targets = stage.get("Targets") or []
        if stage.get("DurationInMinutes") == 0 and not targets:
            raise ValidationException.field(
                f"Plan.Stages[{s}].DurationInMinutes",
                "The duration can only be 0 if the stage has a target.",
            )
        for t, target in enumerate(targets):
            path = f"Plan.Stages[{s}].Targets[{t}]"
            channel = target.get("ChannelTargetInfo")
            contact = target.get("ContactTargetInfo")
            if (channel is None) == (contact is None):
                raise ValidationException.field(
                    path, "A target has exactly one of ChannelTargetInfo and ContactTargetInfo."
                )
            if contact_type == "PERSONAL":
                if channel is None:
                    raise ValidationException.field(
                        f"{path}.ContactTargetInfo",
                        "A personal contact's engagement plan can only engage its own channels.",
                    )
                _check_channel(ctx, f"{path}.ChannelTargetInfo.ContactChannelId",
                               channel["ContactChannelId"], contact_pk, creating)
            else:
                if contact is None:
                    raise ValidationException.field(
                        f"{path}.ChannelTargetInfo",
                        "An escalation plan engages contacts, not contact channels.",
                    )
                if not contact.get("ContactId"):
                    raise ValidationException.field(
                        f"{path}.ContactTargetInfo.ContactId",
                        "An escalation plan's target needs a ContactId.",
                    )
                _check_contact_target(ctx, f"{path}.ContactTargetInfo.ContactId",
                                      contact["ContactId"], creating)


def _check_channel(ctx: RequestContext, path: str, given: str, contact_pk: int | None,
                   creating: bool) -> None:
    arn = arns.parse(given)
    row = None
    if (arn is not None and arn.kind == "contact-channel" and len(arn.parts) == 2
            and arn.account == ctx.account and at_home(ctx, arn)):
        row = ctx.conn.execute(
            sa.select(channels.c.contact_pk, contacts.c.alias)
            .join(contacts, contacts.c.id == channels.c.contact_pk)
            .where(channels.c.channel_id == arn.parts[1], contacts.c.account == ctx.account,
                   contacts.c.region == ctx.region)
        ).first()
        if row is not None and row.alias != arn.parts[0]:
            row = None    # the ARN names the channel under another contact: no such channel
    if row is None or contact_pk is None or row.contact_pk != contact_pk:
        if row is not None:
            raise ValidationException.field(
                path, f"Contact channel {given} belongs to another contact."
            )
        raise _missing(ctx, path, given, "Contact channel", "CONTACT_CHANNEL", creating)


def _check_contact_target(ctx: RequestContext, path: str, given: str, creating: bool) -> None:
    arn = arns.parse(given)
    row = None
    if (arn is not None and arn.kind == "contact" and len(arn.parts) == 1
            and arn.account == ctx.account and at_home(ctx, arn)):
        row = ctx.conn.execute(
            sa.select(contacts.c.type).where(
                contacts.c.account == ctx.account,
                contacts.c.region == ctx.region,
                contacts.c.alias == arn.parts[0],
            )
        ).first()
    if row is None:
        raise _missing(ctx, path, given, "Contact", "CONTACT", creating)
    if row.type == "ESCALATION":
        raise ValidationException.field(
            path, "An escalation plan can engage personal contacts and on-call schedules only."
        )


def _check_rotations(ctx: RequestContext, rotation_ids: list[str], creating: bool) -> None:
    for index, given in enumerate(rotation_ids):
        if not rotations.resolves(ctx, given):
            raise _missing(ctx, f"Plan.RotationIds[{index}]", given, "Rotation", "ROTATION",
                           creating)


__all__ = ["ONCALL_STAGES_MESSAGE", "check_plan"]
