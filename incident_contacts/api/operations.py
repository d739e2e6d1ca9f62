"""The operation table: every operation of the model, and the function that serves it.

Its keys are tested to equal the model's operation names. ``readonly`` operations run in a
read transaction (on SQLite they do not take the write lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incident_contacts.errors import ValidationException
from incident_contacts.service import activation, channels, contacts, policies, tags
from incident_contacts.service.context import RequestContext

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    handler: Handler
    readonly: bool = False


def _unavailable(name: str) -> Operation:
    def handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise ValidationException.other(f"The operation {name} is not available in this release.")

    return Operation(handler, readonly=True)


OPERATIONS: dict[str, Operation] = {
    # Contacts
    "CreateContact": Operation(contacts.create_contact),
    "GetContact": Operation(contacts.get_contact, readonly=True),
    "UpdateContact": Operation(contacts.update_contact),
    "DeleteContact": Operation(contacts.delete_contact),
    "ListContacts": Operation(contacts.list_contacts, readonly=True),
    # Contact channels and activation
    "CreateContactChannel": Operation(channels.create_contact_channel),
    "GetContactChannel": Operation(channels.get_contact_channel, readonly=True),
    "UpdateContactChannel": Operation(channels.update_contact_channel),
    "DeleteContactChannel": Operation(channels.delete_contact_channel),
    "ListContactChannels": Operation(channels.list_contact_channels, readonly=True),
    "DeactivateContactChannel": Operation(channels.deactivate_contact_channel),
    "SendActivationCode": Operation(activation.send_activation_code),
    "ActivateContactChannel": Operation(activation.activate_contact_channel),
    # Tags and contact policies
    "TagResource": Operation(tags.tag_resource),
    "UntagResource": Operation(tags.untag_resource),
    "ListTagsForResource": Operation(tags.list_tags_for_resource, readonly=True),
    "PutContactPolicy": Operation(policies.put_contact_policy),
    "GetContactPolicy": Operation(policies.get_contact_policy, readonly=True),
    # Engagements and pages
    "StartEngagement": _unavailable("StartEngagement"),
    "StopEngagement": _unavailable("StopEngagement"),
    "DescribeEngagement": _unavailable("DescribeEngagement"),
    "ListEngagements": _unavailable("ListEngagements"),
    "ListPagesByContact": _unavailable("ListPagesByContact"),
    "ListPagesByEngagement": _unavailable("ListPagesByEngagement"),
    "DescribePage": _unavailable("DescribePage"),
    "ListPageReceipts": _unavailable("ListPageReceipts"),
    "ListPageResolutions": _unavailable("ListPageResolutions"),
    "AcceptPage": _unavailable("AcceptPage"),
    # Rotations and on-call schedules
    "CreateRotation": _unavailable("CreateRotation"),
    "GetRotation": _unavailable("GetRotation"),
    "UpdateRotation": _unavailable("UpdateRotation"),
    "DeleteRotation": _unavailable("DeleteRotation"),
    "ListRotations": _unavailable("ListRotations"),
    "CreateRotationOverride": _unavailable("CreateRotationOverride"),
    "GetRotationOverride": _unavailable("GetRotationOverride"),
    "DeleteRotationOverride": _unavailable("DeleteRotationOverride"),
    "ListRotationOverrides": _unavailable("ListRotationOverrides"),
    "ListRotationShifts": _unavailable("ListRotationShifts"),
    "ListPreviewRotationShifts": _unavailable("ListPreviewRotationShifts"),
}

__all__ = ["OPERATIONS", "Handler", "Operation"]
