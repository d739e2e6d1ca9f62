"""The operation table: every operation of the model, and the function that serves it.

Its keys are tested to equal the model's operation names. ``readonly`` operations run in a
read transaction (on SQLite they do not take the write lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incident_contacts.service import (
    activation,
    channels,
    contacts,
    engagements,
    overrides,
    pages,
    policies,
    rotations,
    shifts,
    tags,
)
from incident_contacts.service.context import RequestContext

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    handler: Handler
    readonly: bool = False
    # A read whose answer depends only on the database, the caller and the request (never
    # the clock): its answers may be kept until the database changes (api.readcache).
    cached: bool = False


OPERATIONS: dict[str, Operation] = {
    # Contacts
    "CreateContact": Operation(contacts.create_contact),
    "GetContact": Operation(contacts.get_contact, readonly=True, cached=True),
    "UpdateContact": Operation(contacts.update_contact),
    "DeleteContact": Operation(contacts.delete_contact),
    "ListContacts": Operation(contacts.list_contacts, readonly=True, cached=True),
    # Contact channels and activation
    "CreateContactChannel": Operation(channels.create_contact_channel),
    "GetContactChannel": Operation(channels.get_contact_channel, readonly=True, cached=True),
    "UpdateContactChannel": Operation(channels.update_contact_channel),
    "DeleteContactChannel": Operation(channels.delete_contact_channel),
    "ListContactChannels": Operation(channels.list_contact_channels, readonly=True, cached=True),
    "DeactivateContactChannel": Operation(channels.deactivate_contact_channel),
    "SendActivationCode": Operation(activation.send_activation_code),
    "ActivateContactChannel": Operation(activation.activate_contact_channel),
    # Tags and contact policies
    "TagResource": Operation(tags.tag_resource),
    "UntagResource": Operation(tags.untag_resource),
    "ListTagsForResource": Operation(tags.list_tags_for_resource, readonly=True, cached=True),
    "PutContactPolicy": Operation(policies.put_contact_policy),
    "GetContactPolicy": Operation(policies.get_contact_policy, readonly=True, cached=True),
    # Engagements and pages
    "StartEngagement": Operation(engagements.start_engagement),
    "StopEngagement": Operation(engagements.stop_engagement),
    "DescribeEngagement": Operation(engagements.describe_engagement, readonly=True),
    "ListEngagements": Operation(engagements.list_engagements, readonly=True),
    "ListPagesByContact": Operation(pages.list_pages_by_contact, readonly=True),
    "ListPagesByEngagement": Operation(pages.list_pages_by_engagement, readonly=True),
    "DescribePage": Operation(pages.describe_page, readonly=True),
    "ListPageReceipts": Operation(pages.list_page_receipts, readonly=True),
    "ListPageResolutions": Operation(pages.list_page_resolutions, readonly=True),
    "AcceptPage": Operation(pages.accept_page),
    # Rotations and on-call schedules
    "CreateRotation": Operation(rotations.create_rotation),
    "GetRotation": Operation(rotations.get_rotation, readonly=True),
    "UpdateRotation": Operation(rotations.update_rotation),
    "DeleteRotation": Operation(rotations.delete_rotation),
    "ListRotations": Operation(rotations.list_rotations, readonly=True),
    "CreateRotationOverride": Operation(overrides.create_rotation_override),
    "GetRotationOverride": Operation(overrides.get_rotation_override, readonly=True),
    "DeleteRotationOverride": Operation(overrides.delete_rotation_override),
    "ListRotationOverrides": Operation(overrides.list_rotation_overrides, readonly=True),
    "ListRotationShifts": Operation(shifts.list_rotation_shifts, readonly=True),
    "ListPreviewRotationShifts": Operation(shifts.list_preview_rotation_shifts, readonly=True),
}

__all__ = ["OPERATIONS", "Handler", "Operation"]
