"""Display names that releases before 0011 stored in plain: migration 0011 marks them, the
server reads them meanwhile, housekeeping seals them once (engine.legacy_names), and
``rotate-key`` seals any still marked. On SQLite and on PostgreSQL (whose column was
VARCHAR(255), too short for a sealed name)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from incident_contacts import crypto
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.engine import legacy_names
from incident_contacts.engine.housekeeping import keep_house
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.contacts import display_name_aad
from incident_contacts.service.context import Caller
from incident_contacts.store.db import _MIGRATIONS, Store
from incident_contacts.store.rotate import rotate
from incident_contacts.store.schema.core import PLAIN_NAME, contacts
from incident_contacts.store.schema.maintenance import maintenance_done

START = 1_800_000_000.0
ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
LONGEST = "é" * 255                         # ContactName's longest, two bytes a character
LEGACY = {
    (ACCOUNT, "alice"): "Alice Ä Legacyname",
    (ACCOUNT, "bob"): None,
    (ACCOUNT, "carol"): "",
    # A name may look like a sealed value; the mark tells them apart.
    (ACCOUNT, "dan"): "v1.0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    (ACCOUNT, "eve"): LONGEST,
    (OTHER, "alice"): "Alice Otheraccount",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'names.sqlite'}"
    from tests.support import postgres

    url: str = postgres.new_database(request.getfixturevalue("postgres_url"))
    return url


def _upgrade_to(database: str, revision: str, *, step: str = "upgrade") -> None:
    """Run an Alembic ``step`` (upgrade, downgrade) to ``revision`` as a start does."""
    store = Store(database)
    try:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, step)(config, revision)
    finally:
        store.dispose()


def _stored(database: str) -> dict[tuple[str, str], str | None]:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            return {(row.account, row.alias): row.display_name for row in conn.execute(
                sa.select(contacts.c.account, contacts.c.alias, contacts.c.display_name))}
    finally:
        engine.dispose()


def _legacy_database(database: str) -> None:
    """A database at 0010 holding contacts with names in plain, as releases before 0011
    wrote them."""
    _upgrade_to(database, "0010")
    engine = sa.create_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(contacts.insert(), [
                {"account": account, "region": REGION, "alias": alias, "type": "PERSONAL",
                 "display_name": name, "plan": '{"Stages":[]}', "created_at": START}
                for (account, alias), name in LEGACY.items()])
    finally:
        engine.dispose()


class Server:
    """A server's runtime and dispatcher, in process, on the database."""

    def __init__(self, runtime: Runtime, key: bytes) -> None:
        self.runtime, self.key = runtime, key
        self.dispatcher = build_dispatcher(runtime)

    def call(self, operation: str, account: str = ACCOUNT, **params: Any) -> dict[str, Any]:
        return self.dispatcher.call(Caller(account, REGION), operation, params)

    def names(self) -> dict[tuple[str, str], str | None]:
        """Every contact's name as GetContact and ListContacts answer it."""
        found: dict[tuple[str, str], str | None] = {}
        for account in (ACCOUNT, OTHER):
            listed = self.call("ListContacts", account)["Contacts"]
            for contact in listed:
                got = self.call("GetContact", account, ContactId=contact["ContactArn"])
                assert got.get("DisplayName") == contact.get("DisplayName")
                found[account, contact["Alias"]] = contact.get("DisplayName")
        return found


@pytest.fixture
def server(database: str) -> Iterator[Server]:
    _legacy_database(database)
    key = crypto.new_key()
    runtime = build_runtime(Settings(database=database, data_key=crypto.encode_key(key),
                                     throttle_rate=0.0, workers=False), ManualClock(START))
    yield Server(runtime, key)
    runtime.close()


def test_the_migration_marks_names_kept_in_plain(database: str) -> None:
    _legacy_database(database)
    _upgrade_to(database, "0011")
    assert _stored(database) == {key: None if name is None else PLAIN_NAME + name
                                 for key, name in LEGACY.items()}


def test_names_in_plain_read_back_then_are_sealed_once(server: Server, database: str) -> None:
    # Started (migrated), not yet housekept: the marked names read as they were.
    assert server.names() == LEGACY
    keep_house(server.runtime)
    stored = _stored(database)
    ring = crypto.KeyRing(server.key)
    for (account, alias), name in LEGACY.items():
        value = stored[account, alias]
        if name is None:
            assert value is None
            continue
        assert value is not None and ring.is_current(value), value
        assert ring.open(value, aad=display_name_aad(account, REGION, alias)) == name
        assert not name or name not in value
    assert server.names() == LEGACY
    with server.runtime.store.transaction(write=False) as conn:
        assert conn.execute(sa.select(maintenance_done.c.name).where(
            maintenance_done.c.name == legacy_names.TASK)).first() is not None
    # Done once: a name marked now (none can be) would be left to rotate-key.
    assert legacy_names.seal_legacy_display_names(server.runtime) == 0
    # The longest name, sealed, fits the column on both databases.
    eve = server.call("ListContacts", AliasPrefix="eve")["Contacts"][0]["ContactArn"]
    server.call("UpdateContact", ContactId=eve, DisplayName="ê" * 255)
    assert server.call("GetContact", ContactId=eve)["DisplayName"] == "ê" * 255


def _write_as_an_older_server(database: str, alias: str, name: str) -> None:
    """What a server of a release before 0011, still running after the migration (a rolling
    upgrade on PostgreSQL), writes: the name in plain, unmarked."""
    engine = sa.create_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(contacts.update().where(contacts.c.account == ACCOUNT,
                                                 contacts.c.alias == alias)
                         .values(display_name=name))
    finally:
        engine.dispose()


def test_names_an_older_server_writes_after_the_migration_read_and_are_sealed(
        server: Server, database: str) -> None:
    keep_house(server.runtime)                    # the walk is done before the older write
    _write_as_an_older_server(database, "alice", "Alice From An Older Server")
    expected = {**LEGACY, (ACCOUNT, "alice"): "Alice From An Older Server"}
    assert server.names() == expected
    server.runtime.close()
    new = crypto.new_key()
    store = Store(database)
    try:
        report = rotate(store, crypto.KeyRing(new, [server.key]))
    finally:
        store.dispose()
    assert report.ok and report.sealed_plain == 1
    value = _stored(database)[ACCOUNT, "alice"]
    assert value is not None and crypto.KeyRing(new).open(
        value, aad=display_name_aad(ACCOUNT, REGION, "alice")) == "Alice From An Older Server"


def test_the_walk_also_seals_names_written_unmarked(server: Server, database: str) -> None:
    _write_as_an_older_server(database, "alice", "Alice Unmarked")
    assert legacy_names.seal_legacy_display_names(server.runtime) == 5
    ring = crypto.KeyRing(server.key)
    assert all(value is None or ring.is_current(value) for value in _stored(database).values())
    assert server.names() == {**LEGACY, (ACCOUNT, "alice"): "Alice Unmarked"}


def test_the_walk_seals_an_unmarked_name_that_differs_from_the_sealed_form_by_case(
        server: Server, database: str) -> None:
    # SQLite's LIKE ignores case: "V1." must not pass for the "v1." of a sealed value.
    _write_as_an_older_server(database, "alice", "V1.Alice")
    assert legacy_names.seal_legacy_display_names(server.runtime) == 5
    ring = crypto.KeyRing(server.key)
    assert all(value is None or ring.is_current(value) for value in _stored(database).values())
    assert server.names() == {**LEGACY, (ACCOUNT, "alice"): "V1.Alice"}


def test_a_walk_cut_short_carries_on_in_batches(server: Server, database: str) -> None:
    # A name changed meanwhile is the call's own (sealed): the walk leaves it.
    alice = server.call("ListContacts", AliasPrefix="alice")["Contacts"][0]["ContactArn"]
    server.call("UpdateContact", ContactId=alice, DisplayName="Alice Renamed")
    assert legacy_names.seal_legacy_display_names(server.runtime, batch=1) == 4
    assert not any(value is not None and value.startswith(PLAIN_NAME)
                   for value in _stored(database).values())
    assert server.names() == {**LEGACY, (ACCOUNT, "alice"): "Alice Renamed"}


def test_rotate_key_seals_names_still_in_plain_and_reseals_the_others(
        server: Server, database: str) -> None:
    alice = server.call("ListContacts", AliasPrefix="alice")["Contacts"][0]["ContactArn"]
    server.call("UpdateContact", ContactId=alice, DisplayName="Alice Renamed")
    server.runtime.close()
    new = crypto.new_key()
    store = Store(database)
    try:
        report = rotate(store, crypto.KeyRing(new, [server.key]), batch_size=2)
    finally:
        store.dispose()
    assert report.ok
    assert report.sealed_plain == 4               # carol, dan, eve, the other alice
    stored = _stored(database)
    only_new = crypto.KeyRing(new)
    expected = {**LEGACY, (ACCOUNT, "alice"): "Alice Renamed"}
    for (account, alias), name in expected.items():
        value = stored[account, alias]
        if name is None:
            assert value is None
            continue
        assert value is not None
        assert only_new.open(value, aad=display_name_aad(account, REGION, alias)) == name
    runtime = build_runtime(Settings(database=database, data_key=crypto.encode_key(new),
                                     old_data_keys=(), throttle_rate=0.0, workers=False),
                            ManualClock(START))
    try:
        assert Server(runtime, new).names() == expected
    finally:
        runtime.close()


def test_rotate_key_leaves_names_of_a_database_not_yet_migrated(database: str) -> None:
    """Before 0011 every name is in plain and unmarked: rotate-key has nothing to seal there,
    and must not take the names for sealed values it cannot open."""
    _legacy_database(database)
    store = Store(database)
    try:
        report = rotate(store, crypto.KeyRing(crypto.new_key(), [crypto.new_key()]))
    finally:
        store.dispose()
    assert report.ok and report.sealed_plain == 0
    assert _stored(database) == LEGACY



def test_the_rotate_key_command_says_it_sealed_names_in_plain(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'names.sqlite'}"
    _legacy_database(database)
    _upgrade_to(database, "head")
    old, new = crypto.new_key(), crypto.new_key()
    done = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "rotate-key", "--database", database,
         "--old-key", crypto.encode_key(old), "--new-key", crypto.encode_key(new)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "sealed 5 values an older release stored in plain" in done.stderr
    ring = crypto.KeyRing(new)
    assert all(value is None or ring.is_current(value) for value in _stored(database).values())


def test_names_sealed_before_a_downgrade_read_back_after_the_next_upgrade(
        server: Server, database: str) -> None:
    """Down to 0010 and up again: the names sealed before are not taken for names in plain,
    and one the older release wrote meanwhile is sealed by the next walk."""
    keep_house(server.runtime)                    # every name sealed, the walk recorded done
    server.runtime.close()
    _upgrade_to(database, "0010", step="downgrade")
    _write_as_an_older_server(database, "alice", "Alice While Downgraded")
    _upgrade_to(database, "head")
    runtime = build_runtime(Settings(database=database, data_key=crypto.encode_key(server.key),
                                     throttle_rate=0.0, workers=False), ManualClock(START))
    try:
        again = Server(runtime, server.key)
        expected = {**LEGACY, (ACCOUNT, "alice"): "Alice While Downgraded"}
        assert again.names() == expected
        keep_house(runtime)
        ring = crypto.KeyRing(server.key)
        assert all(value is None or ring.is_current(value)
                   for value in _stored(database).values())
        assert again.names() == expected
    finally:
        runtime.close()


def test_the_migration_downgrades_to_the_names_in_plain(database: str) -> None:
    _legacy_database(database)
    _upgrade_to(database, "0011")
    _upgrade_to(database, "0010", step="downgrade")
    assert _stored(database) == LEGACY
