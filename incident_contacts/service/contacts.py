"""CreateContact, GetContact, UpdateContact, DeleteContact, ListContacts (spec §6.1).

A display name is a person's name, personal data: it is stored sealed with the data key,
bound to the contact's account, region and alias (its table's key, which no call changes), so
a name copied onto another contact no longer opens. Names stored in plain by releases before
migration 0011 carry ``PLAIN_NAME`` until the server seals them (``engine.legacy_names``);
they read as they are meanwhile, as do names an older server still running after the
migration writes unmarked (``plain_name``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from incident_contacts import crypto
from incident_contacts.auth.principals import shared_with
from incident_contacts.errors import ConflictException, DataEncryptionException
from incident_contacts.service import arns, pagination, plans, quotas, rotations, tags
from incident_contacts.service.context import RequestContext
from incident_contacts.service.lookup import contact_key, contact_not_found, find_contact
from incident_contacts.store.prepared import Prepared
from incident_contacts.store.schema.core import contacts, plain_name

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

# Checks run before a contact is deleted, registered by the features that reference
# contacts (a rotation member cannot be deleted): f(ctx, contact row) raises ConflictException.
DeleteGuard = Callable[[RequestContext, Any], None]
delete_guards: list[DeleteGuard] = [rotations.check_contact_unused]


_SET_PLAN = Prepared(contacts.update().where(contacts.c.id == sa.bindparam("pk"))
                     .values(plan=sa.bindparam("plan")))
_SET_DISPLAY_NAME = Prepared(contacts.update().where(contacts.c.id == sa.bindparam("pk"))
                             .values(display_name=sa.bindparam("name")))
_SET_DISPLAY_NAME_BY_KEY = Prepared(contacts.update().where(
    contacts.c.account == sa.bindparam("account"),
    contacts.c.region == sa.bindparam("region"),
    contacts.c.alias == sa.bindparam("alias"),
).values(display_name=sa.bindparam("name")))


def display_name_aad(account: str, region: str, alias: str) -> str:
    """The associated data of a contact's sealed display name (``store.rotate``'s
    ``contacts:<account>:<region>:<alias>:display_name``)."""
    key = f"{account}:{region}:{alias}"
    return f"contacts:{key}:display_name"


def seal_display_name(keyring: crypto.KeyRing, account: str, region: str, alias: str,
                      name: str | None) -> str | None:
    """A display name as it is stored: sealed (None stays None)."""
    if name is None:
        return None
    return keyring.seal(name, aad=display_name_aad(account, region, alias))


def open_display_name(runtime: Runtime, row: Any) -> str | None:
    """The display name of a contact row (with its account, region and alias): opened, or a
    DataEncryptionException when no key opens it."""
    stored: str | None = row.display_name
    if stored is None:
        return None
    plain = plain_name(stored)
    if plain is not None:
        return plain
    return runtime.open_record(stored, aad=display_name_aad(row.account, row.region, row.alias))


def _listed(runtime: Runtime, rows: list[Any]) -> list[dict[str, Any]]:
    """ListContacts' entries of contact rows (``_LISTED`` first), their names opened as
    :func:`open_display_name` does. A page opens a hundred names: each row is unpacked once
    (a Row's attributes cost more than its items), in one frame and one ``try``."""
    open_sealed = runtime.keyring.open
    listed: list[dict[str, Any]] = []
    try:
        for row in rows:
            account, region, alias, name, kind = row[:5]
            if name is not None:
                plain = plain_name(name)
                name = (plain if plain is not None else
                        open_sealed(name, aad=display_name_aad(account, region, alias)))
            listed.append({"ContactArn": arns.contact_arn(region, account, alias),
                           "Alias": alias, "DisplayName": name, "Type": kind})
    except crypto.DecryptError as exc:
        # As Runtime.open_record answers.
        raise DataEncryptionException(
            "The record could not be decrypted with the server's data key.") from exc
    return listed


def _arn(ctx: RequestContext, row: Any) -> str:
    return arns.contact_arn(row.region, row.account, row.alias)


def create_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A contact's alias is unique in its account and region: a second one is a
    ConflictException (spec §6.1) whose ``ResourceId`` is the alias as the request gave it
    (decisions §5). The plan is checked against the rules of its type."""
    alias = params["Alias"]
    arn = arns.contact_arn(ctx.region, ctx.account, alias)
    exists = ctx.conn.execute(
        sa.select(contacts.c.id).where(
            contacts.c.account == ctx.account,
            contacts.c.region == ctx.region,
            contacts.c.alias == alias,
        )
    ).first()
    if exists is not None:
        raise ConflictException(
            f"A contact with the alias {alias} already exists.",
            resource_id=alias, resource_type="CONTACT",
        )
    quotas.check_new_contact(ctx, arn)
    plan = params["Plan"]
    quotas.check_stages(ctx, plan.get("Stages") or [], arn)
    plans.check_plan(ctx, params["Type"], plan, contact_pk=None, creating=True)
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                contacts.insert().values(
                    account=ctx.account,
                    region=ctx.region,
                    alias=alias,
                    type=params["Type"],
                    display_name=seal_display_name(ctx.runtime.keyring, ctx.account,
                                                   ctx.region, alias,
                                                   params.get("DisplayName")),
                    plan=orjson.dumps(plan).decode(),
                    created_at=ctx.now(),
                )
            )
    except IntegrityError as exc:
        raise ConflictException(
            f"A contact with the alias {alias} already exists.",
            resource_id=alias, resource_type="CONTACT",
        ) from exc
    if params.get("Tags"):
        tags.put_tags(ctx, arn, params["Tags"])
    return {"ContactArn": arn}


def get_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = find_contact(ctx, params["ContactId"])
    return {
        "ContactArn": _arn(ctx, row),
        "Alias": row.alias,
        "DisplayName": open_display_name(ctx.runtime, row),
        "Type": row.type,
        "Plan": orjson.loads(row.plan),
    }


def update_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A given ``Plan`` replaces the whole plan; an absent one leaves it as it is (Terraform
    updates ``DisplayName`` alone, spec §6.9)."""
    if "Plan" not in params and "DisplayName" in params:
        # The display name alone: one statement, no need to read the contact first.
        key = contact_key(ctx, params["ContactId"])
        if key is None or not _SET_DISPLAY_NAME_BY_KEY.execute(ctx.conn, {
                **key, "name": seal_display_name(ctx.runtime.keyring, key["account"],
                                                 key["region"], key["alias"],
                                                 params["DisplayName"])}):
            raise contact_not_found(params["ContactId"])
        return {}
    row = find_contact(ctx, params["ContactId"])
    if "Plan" in params:
        quotas.check_stages(ctx, params["Plan"].get("Stages") or [], params["ContactId"])
        plans.check_plan(ctx, row.type, params["Plan"], contact_pk=row.id, creating=False)
        _SET_PLAN.execute(ctx.conn, {"pk": row.id, "plan": orjson.dumps(params["Plan"]).decode()})
    if "DisplayName" in params:
        _SET_DISPLAY_NAME.execute(ctx.conn, {"pk": row.id, "name": seal_display_name(
            ctx.runtime.keyring, row.account, row.region, row.alias, params["DisplayName"])})
    return {}


def delete_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deletes the contact with its channels, policy and tags. Escalation plans that name it
    keep the dangling reference, as AWS documents; a rotation member is a ConflictException."""
    row = find_contact(ctx, params["ContactId"])
    for guard in delete_guards:
        guard(ctx, row)
    ctx.conn.execute(contacts.delete().where(contacts.c.id == row.id))
    tags.drop_tags(ctx, _arn(ctx, row))
    return {}


# Candidates for the shared contacts of a ListContacts page are read this many at a time:
# each is kept only if its policy shares it with the caller.
SHARED_BATCH = 100
# In this order first in every row ListContacts lists (``_listed``).
_LISTED = (contacts.c.account, contacts.c.region, contacts.c.alias, contacts.c.display_name,
           contacts.c.type)
# Whether any contact of another account in the region has a policy: usually none, and then
# the search for shared contacts is skipped.
_ANY_SHARED = Prepared(sa.select(contacts.c.id).where(
    contacts.c.region == sa.bindparam("region"), contacts.c.policy.is_not(None),
    contacts.c.account != sa.bindparam("account")).limit(1))


def list_contacts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The caller's contacts and those of other accounts shared with it (spec §6.1: their
    policy lets the caller GetContact them; their ARN names the owner), sorted by alias and
    then owner, filtered by ``AliasPrefix`` and ``Type``; keyset-paged on (alias, owner)."""
    limit = pagination.page_size(params)
    secret = ctx.runtime.secret("pagination")
    # A token pages on the listing it came from: the same filters.
    scope = (f"ListContacts:{ctx.account}:{ctx.region}:{params.get('AliasPrefix', '')}:"
             f"{params.get('Type', '')}")
    after = pagination.decode(secret, scope, params.get("NextToken"))
    # A token of one element (an alias) comes from before shared contacts were listed.
    position = None if not after else (str(after[0]), str(after[-1]) if len(after) > 1
                                       else ctx.account)
    own = _filtered(sa.select(*_LISTED).where(contacts.c.account == ctx.account,
                                              contacts.c.region == ctx.region), params)
    if position is not None:
        alias, owner = position
        own = own.where(contacts.c.alias >= alias if ctx.account > owner
                        else contacts.c.alias > alias)
    rows = list(ctx.conn.execute(own.order_by(contacts.c.alias).limit(limit + 1)).all())
    if _ANY_SHARED.first(ctx.conn, {"region": ctx.region, "account": ctx.account}) is not None:
        rows += _shared(ctx, params, position, limit + 1)
    rows.sort(key=lambda row: (row.alias, row.account))
    result: dict[str, Any] = {"Contacts": _listed(ctx.runtime, rows[:limit])}
    if len(rows) > limit:
        last = rows[limit - 1]
        result["NextToken"] = pagination.encode(secret, scope, [last.alias, last.account])
    return result


def _filtered(query: Any, params: dict[str, Any]) -> Any:
    prefix = params.get("AliasPrefix")
    if prefix:
        # Aliases are [a-z0-9_-], all below U+007F, so this range is exactly the prefix.
        query = query.where(contacts.c.alias >= prefix, contacts.c.alias < prefix + "\x7f")
    if params.get("Type"):
        query = query.where(contacts.c.type == params["Type"])
    return query


def _shared(ctx: RequestContext, params: dict[str, Any], position: tuple[str, str] | None,
            wanted: int) -> list[Any]:
    """Up to ``wanted`` contacts of other accounts in this region shared with the caller,
    after ``position`` in (alias, owner) order."""
    query = _filtered(sa.select(*_LISTED, contacts.c.policy).where(
        contacts.c.region == ctx.region, contacts.c.account != ctx.account,
        contacts.c.policy.is_not(None)), params)
    found: list[Any] = []
    while True:
        batch_query = query
        if position is not None:
            batch_query = query.where(sa.tuple_(contacts.c.alias, contacts.c.account)
                                      > sa.tuple_(sa.literal(position[0]),
                                                  sa.literal(position[1])))
        batch = ctx.conn.execute(batch_query.order_by(contacts.c.alias, contacts.c.account)
                                 .limit(SHARED_BATCH)).all()
        for row in batch:
            arn = _arn(ctx, row)
            if shared_with(ctx.caller, arn, row.account, row.policy, ctx.now(),
                           functools.partial(tags.tag_map, ctx.conn, arn)):
                found.append(row)
                if len(found) == wanted:
                    return found
        if len(batch) < SHARED_BATCH:
            return found
        position = (batch[-1].alias, batch[-1].account)


__all__ = [
    "create_contact",
    "delete_contact",
    "delete_guards",
    "display_name_aad",
    "get_contact",
    "list_contacts",
    "open_display_name",
    "seal_display_name",
    "update_contact",
]
