"""The resource IAM authorizes each ssm-contacts operation against.

One explicit table, keyed by every operation of the model (a test checks the keys). Most
operations name their resource in a request member (an ARN, taken as the caller gave it, so a
contact is authorized by its alias ARN); a few create a resource whose ARN follows from the
request, and the list operations without a parent resource are authorized against ``*``.

A member that is absent or not a string (the request will fail validation) yields ``*``, which
only a policy granting every resource matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Member:
    """The resource is the ARN in this request member."""

    name: str


@dataclass(frozen=True)
class Template:
    """The resource is ``arn:<partition>:ssm-contacts:<region>:<account>:`` + this path;
    ``{Member}`` is replaced by that request member."""

    path: str


@dataclass(frozen=True)
class AnyResource:
    """The operation has no resource of its own: IAM authorizes it against ``*``."""


Rule = Member | Template | AnyResource

ANY: Final = AnyResource()

RESOURCE_RULES: Final[Mapping[str, Rule]] = {
    "AcceptPage": Member("PageId"),
    "ActivateContactChannel": Member("ContactChannelId"),
    "CreateContact": Template("contact/{Alias}"),
    "CreateContactChannel": Member("ContactId"),
    "CreateRotation": Template("rotation/*"),
    "CreateRotationOverride": Member("RotationId"),
    "DeactivateContactChannel": Member("ContactChannelId"),
    "DeleteContact": Member("ContactId"),
    "DeleteContactChannel": Member("ContactChannelId"),
    "DeleteRotation": Member("RotationId"),
    "DeleteRotationOverride": Member("RotationId"),
    "DescribeEngagement": Member("EngagementId"),
    "DescribePage": Member("PageId"),
    "GetContact": Member("ContactId"),
    "GetContactChannel": Member("ContactChannelId"),
    "GetContactPolicy": Member("ContactArn"),
    "GetRotation": Member("RotationId"),
    "GetRotationOverride": Member("RotationId"),
    "ListContactChannels": Member("ContactId"),
    "ListContacts": ANY,
    "ListEngagements": ANY,
    "ListPageReceipts": Member("PageId"),
    "ListPageResolutions": Member("PageId"),
    "ListPagesByContact": Member("ContactId"),
    "ListPagesByEngagement": Member("EngagementId"),
    "ListPreviewRotationShifts": ANY,
    "ListRotationOverrides": Member("RotationId"),
    "ListRotationShifts": Member("RotationId"),
    "ListRotations": ANY,
    "ListTagsForResource": Member("ResourceARN"),
    "PutContactPolicy": Member("ContactArn"),
    "SendActivationCode": Member("ContactChannelId"),
    "StartEngagement": Member("ContactId"),
    "StopEngagement": Member("EngagementId"),
    "TagResource": Member("ResourceARN"),
    "UntagResource": Member("ResourceARN"),
    "UpdateContact": Member("ContactId"),
    "UpdateContactChannel": Member("ContactChannelId"),
    "UpdateRotation": Member("RotationId"),
}


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _member(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) and value else None


def resource_for(operation: str, params: Mapping[str, Any], account: str, region: str) -> str:
    """The ARN (or ``*``) that IAM authorizes ``operation`` with these ``params`` against.

    ``KeyError`` for an operation the model does not have.
    """
    rule = RESOURCE_RULES[operation]
    if isinstance(rule, AnyResource):
        return "*"
    if isinstance(rule, Member):
        return _member(params, rule.name) or "*"
    path = rule.path
    if "{" in path:
        name = path[path.index("{") + 1 : path.index("}")]
        value = _member(params, name)
        if value is None:
            return "*"
        path = path.replace("{" + name + "}", value)
    return f"arn:{partition_for(region)}:ssm-contacts:{region}:{account}:{path}"


__all__ = [
    "ANY",
    "RESOURCE_RULES",
    "AnyResource",
    "Member",
    "Rule",
    "Template",
    "partition_for",
    "resource_for",
]
