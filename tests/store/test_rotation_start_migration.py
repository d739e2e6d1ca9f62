"""Migration 0014 (``rotations.start_given``), on SQLite and PostgreSQL: rotations written
before it keep reporting their start; one created without StartTime after it reports none;
downgrading drops the column and keeps every rotation with its members and overrides."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.context import Caller
from incident_contacts.service.rotations import rotation_arn
from incident_contacts.store.db import Store
from incident_contacts.store.schema import metadata
from tests.store.test_upgrades import _alembic, _state, new_url  # noqa: F401

ACCOUNT, REGION = "111122223333", "us-east-1"
CALLER = Caller(ACCOUNT, REGION)
NOW = 1_900_000_000.0
OLD_START = 1_800_000_000.0
OLD_ID = "0e5b4e6c-3c1f-4c51-9a53-d0c3a1b2c3d4"
OLD_ARN = rotation_arn(REGION, ACCOUNT, OLD_ID)
DAILY = {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
         "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}


def _old_rotation(store: Store) -> None:
    """A rotation with a member and an override, as the code at 0013 wrote them."""
    tables = metadata.tables
    with store.engine.begin() as conn:
        contact = conn.execute(tables["contacts"].insert().values(
            account=ACCOUNT, region=REGION, alias="alice", type="PERSONAL",
            display_name=None, plan='{"Stages":[]}', policy=None, created_at=OLD_START,
        ).returning(tables["contacts"].c.id)).scalar_one()
        rotation = conn.execute(tables["rotations"].insert().values(
            rotation_id=OLD_ID, account=ACCOUNT, region=REGION, name="old",
            start_time=OLD_START, time_zone="UTC",
            recurrence='{"NumberOfOnCalls":1,"RecurrenceMultiplier":1,'
                       '"DailySettings":[{"HourOfDay":9,"MinuteOfHour":0}]}',
            created_at=OLD_START - 86400,
        ).returning(tables["rotations"].c.id)).scalar_one()
        conn.execute(tables["rotation_members"].insert().values(
            rotation_pk=rotation, position=0, contact_pk=contact))
        override = conn.execute(tables["rotation_overrides"].insert().values(
            override_id="1e5b4e6c-3c1f-4c51-9a53-d0c3a1b2c3d4", rotation_pk=rotation,
            start_time=NOW, end_time=NOW + 3600, created_at=OLD_START,
        ).returning(tables["rotation_overrides"].c.id)).scalar_one()
        conn.execute(tables["override_members"].insert().values(
            override_pk=override, position=0, contact_pk=contact))


def _counts(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return [conn.execute(sa.select(sa.func.count()).select_from(metadata.tables[name]))
                .scalar_one() for name in ("rotations", "rotation_members",
                                           "rotation_overrides", "override_members")]


def _columns(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns("rotations")}


def _started(dispatcher: Dispatcher, arn: str) -> tuple[Any, Any]:
    """(GetRotation's StartTime, ListRotations' StartTime) of a rotation; None when left out."""
    got = dispatcher.call(CALLER, "GetRotation", {"RotationId": arn})
    (listed,) = [r for r in dispatcher.call(CALLER, "ListRotations", {})["Rotations"]
                 if r["RotationArn"] == arn]
    return got.get("StartTime"), listed.get("StartTime")


def test_rotations_before_the_migration_keep_their_start_and_a_downgrade_keeps_them(
        new_url: Callable[[], str]) -> None:  # noqa: F811
    url = new_url()
    store = Store(url)
    try:
        _alembic(store, ("upgrade", "0013"))
        assert "start_given" not in _columns(store)
        _old_rotation(store)
    finally:
        store.dispose()

    key = base64.b64encode(os.urandom(32)).decode()
    runtime = build_runtime(Settings(database=url, data_key=key, workers=False, read_cache=0),
                            ManualClock(NOW))
    try:
        assert _state(runtime.store) == ("0014", [])
        # Added in place: nothing cascaded from a rebuilt table.
        assert _counts(runtime.store) == [1, 1, 1, 1]
        dispatcher = build_dispatcher(runtime)
        assert _started(dispatcher, OLD_ARN) == (OLD_START, OLD_START)
        new = dispatcher.call(CALLER, "CreateRotation", {
            "Name": "new", "ContactIds": [f"arn:aws:ssm-contacts:{REGION}:{ACCOUNT}:contact/alice"],
            "TimeZoneId": "UTC", "Recurrence": DAILY})["RotationArn"]
        assert _started(dispatcher, new) == (None, None)

        _alembic(runtime.store, ("downgrade", "0013"))
        assert "start_given" not in _columns(runtime.store)
        assert _counts(runtime.store) == [2, 2, 1, 1]
        # Up again: the flag is gone, so both report the start they count from.
        _alembic(runtime.store, ("upgrade", "head"))
        assert _state(runtime.store) == ("0014", [])
        assert _started(dispatcher, OLD_ARN) == (OLD_START, OLD_START)
        assert _started(dispatcher, new) == (NOW, NOW)
    finally:
        runtime.close()
