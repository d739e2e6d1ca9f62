"""ARNs as AWS builds them (spec §2.2): ``arn:<partition>:ssm-contacts:<region>:<account>:...``.

====================  ==============================================
contact               ``contact/<alias>``
contact channel       ``contact-channel/<contact alias>/<uuid>``
engagement            ``engagement/<alias of the engaged contact>/<uuid>``
page                  ``page/<alias of the paged contact>/<uuid>``
rotation              ``rotation/<uuid>``
====================  ==============================================
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from incident_contacts import model
from incident_contacts.model.validate import validate_value

SERVICE = "ssm-contacts"

# A region as AWS spells them (``us-east-1``), the only ones a credential scope may name: each
# resource row keeps its region in 32 characters, and its ARNs must pass the model's pattern.
REGION = re.compile(r"[a-z0-9-]{1,32}")


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Arn:
    partition: str
    region: str
    account: str
    kind: str             # "contact", "contact-channel", "engagement", "page", "rotation"
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return (f"arn:{self.partition}:{SERVICE}:{self.region}:{self.account}:"
                f"{self.kind}/{'/'.join(self.parts)}")


# ARNs are built and parsed on every call, mostly the same few again and again; both are pure
# functions of their arguments, and an Arn is immutable.
@functools.lru_cache(maxsize=8192)
def build(region: str, account: str, kind: str, *parts: str) -> str:
    return str(Arn(partition(region), region, account, kind, parts))


def contact_arn(region: str, account: str, alias: str) -> str:
    return build(region, account, "contact", alias)


def channel_arn(region: str, account: str, alias: str, channel_id: str) -> str:
    return build(region, account, "contact-channel", alias, channel_id)


@functools.lru_cache(maxsize=8192)
def parse(text: str) -> Arn | None:
    """The parts of an ssm-contacts ARN, or None when it is not one of ours."""
    pieces = text.split(":", 5)
    if len(pieces) != 6 or pieces[0] != "arn" or pieces[2] != SERVICE:
        return None
    kind, _, rest = pieces[5].partition("/")
    if not rest:
        return None
    return Arn(pieces[1], pieces[3], pieces[4], kind, tuple(rest.split("/")))


MAX_ARN = 2048
"""The longest ``SsmContactsArn`` the model allows."""


def well_formed(text: str) -> bool:
    """Whether ``text`` is spelled as the model's ``SsmContactsArn`` allows (anchored, extras
    file). Members of that shape are validated before any lookup; this is for the values that
    are not (``AmazonResourceName`` has no pattern; guards run before validation). A value
    outside it names no resource, and must not reach a query: PostgreSQL refuses a NUL in a
    text parameter (a 500 rather than a clear error). Only values of an ARN's length are
    remembered: a guard sees a request's value before validation, up to the body's 2 MiB."""
    return len(text) <= MAX_ARN and _well_formed(text)


@functools.lru_cache(maxsize=8192)
def _well_formed(text: str) -> bool:
    return not validate_value(model.service_model().shape_for("SsmContactsArn"), text, "ARN")


__all__ = ["REGION", "Arn", "build", "channel_arn", "contact_arn", "parse", "partition",
           "well_formed"]
