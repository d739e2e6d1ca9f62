"""The quotas of an account and of a plan (spec §5). AWS publishes their Service Quotas codes
but not their values. Ours are settings, 0 for no limit, whose defaults (1,000 contacts and
1,000 rotations per account and region, 100 stages per plan and 100 targets per stage) stop a
runaway script without surprising a team; a test of quota handling sets them low. Past one,
the call is a ServiceQuotaExceededException with AWS's code for the quota, and nothing
changes. (Rotations per schedule, 8, and contacts per rotation, 30, are the model's and the
plan checks' own limits.)

A count is read before the write it limits. On PostgreSQL, where several servers share the
database, the count and the insert after it hold a lock of the account, region and kind
(``store.locks``) until the call ends, so two calls at the limit cannot both pass; SQLite's
writers take turns already. A deletion takes no lock: a create racing it at most counts the
row being deleted, as if it had come first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from incident_contacts.errors import ServiceQuotaExceededException
from incident_contacts.service.context import RequestContext
from incident_contacts.store import locks
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema.core import contacts
from incident_contacts.store.schema.rotations import rotations

CONTACTS_CODE = "L-7DD2017D"
ROTATIONS_CODE = "L-4EA3AB3A"
STAGES_CODE = "L-5AE11799"
TARGETS_CODE = "L-F338226A"

_CONTACTS = Prepared(sa.select(sa.func.count()).select_from(contacts).where(
    contacts.c.account == sa.bindparam("account"), contacts.c.region == sa.bindparam("region")))
_ROTATIONS = Prepared(sa.select(sa.func.count()).select_from(rotations).where(
    rotations.c.account == sa.bindparam("account"),
    rotations.c.region == sa.bindparam("region")))


def _count(ctx: RequestContext, kind: str, query: Prepared) -> int:
    """The account's resources of a kind in the region, counted under the lock that the
    create's insert keeps until it commits (PostgreSQL)."""
    locks.hold(ctx.conn, "quota", kind, ctx.account, ctx.region)
    return int(query.scalar(ctx.conn, {"account": ctx.account, "region": ctx.region}))


def check_new_contact(ctx: RequestContext, arn: str) -> None:
    limit = ctx.runtime.settings.quota_contacts
    if limit and _count(ctx, "contacts", _CONTACTS) >= limit:
        raise ServiceQuotaExceededException(
            f"The account already has the most contacts it may have in {ctx.region} "
            f"({limit}).", quota_code=CONTACTS_CODE, resource_id=arn, resource_type="CONTACT")


def check_new_rotation(ctx: RequestContext) -> None:
    limit = ctx.runtime.settings.quota_rotations
    if limit and _count(ctx, "rotations", _ROTATIONS) >= limit:
        raise ServiceQuotaExceededException(
            f"The account already has the most rotations it may have in {ctx.region} "
            f"({limit}).", quota_code=ROTATIONS_CODE, resource_type="ROTATION")


def check_stages(ctx: RequestContext, stages: list[dict[str, Any]], contact_arn: str) -> None:
    settings = ctx.runtime.settings
    if settings.quota_stages and len(stages) > settings.quota_stages:
        raise ServiceQuotaExceededException(
            f"A plan can have at most {settings.quota_stages} stages.",
            quota_code=STAGES_CODE, resource_id=contact_arn, resource_type="CONTACT")
    for stage in stages:
        if settings.quota_targets and len(stage.get("Targets") or []) > settings.quota_targets:
            raise ServiceQuotaExceededException(
                f"A stage can have at most {settings.quota_targets} targets.",
                quota_code=TARGETS_CODE, resource_id=contact_arn, resource_type="CONTACT")


__all__ = ["CONTACTS_CODE", "ROTATIONS_CODE", "STAGES_CODE", "TARGETS_CODE",
           "check_new_contact", "check_new_rotation", "check_stages"]
