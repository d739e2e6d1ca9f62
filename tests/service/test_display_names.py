"""Contact display names are sealed at rest (service.contacts): nothing of a name is in the
database files, every view opens it, and a sealed name opens only on its own contact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from incident_contacts import crypto
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.console import forms
from incident_contacts.errors import DataEncryptionException
from incident_contacts.runtime import Runtime
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.contacts import display_name_aad
from incident_contacts.service.context import Caller
from incident_contacts.store.schema.core import contacts
from tests.console.test_console import make_app, sign_in
from tests.console.test_editing import contact_page, flash, post

START = 1_800_000_000.0
ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
# Names found nowhere else: a byte search of the database files finds them only if stored.
CREATED = "Akosua Sealedname"
RENAMED = "Yaw Renamedperson"
WITH_PLAN = "Efua Planrenamed"
ACCENTED = "Adwoa Ænéas-Ø"
NAMES = (CREATED, RENAMED, WITH_PLAN, ACCENTED)


@dataclass
class World:
    path: Path
    key: bytes
    runtime: Runtime
    dispatcher: Dispatcher

    def call(self, operation: str, account: str = ACCOUNT, **params: Any) -> dict[str, Any]:
        return self.dispatcher.call(Caller(account, REGION), operation, params)

    def stored(self) -> dict[tuple[str, str], str | None]:
        """(account, alias) -> the display_name column as stored."""
        with self.runtime.store.transaction(write=False) as conn:
            return {(row.account, row.alias): row.display_name for row in conn.execute(
                sa.select(contacts.c.account, contacts.c.alias, contacts.c.display_name))}

    def file_bytes(self) -> bytes:
        """The database file with its WAL and shared memory."""
        return b"".join(p.read_bytes() for p in self.path.parent.iterdir()
                        if p.name.startswith(self.path.name) and p.is_file()
                        and not p.name.endswith(".key"))


def _world(path: Path, key: bytes) -> World:
    settings = Settings(database=f"sqlite:///{path}", data_key=crypto.encode_key(key),
                        throttle_rate=0.0, workers=False)
    runtime = build_runtime(settings, ManualClock(START))
    return World(path, key, runtime, build_dispatcher(runtime))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = _world(tmp_path / "names.db", crypto.new_key())
    yield made
    made.runtime.close()


def _contact(world: World, alias: str, name: str | None, account: str = ACCOUNT) -> str:
    extra = {} if name is None else {"DisplayName": name}
    arn: str = world.call("CreateContact", account, Alias=alias, Type="PERSONAL",
                          Plan={"Stages": []}, **extra)["ContactArn"]
    return arn


def test_names_are_sealed_when_created_and_changed_and_read_back(world: World) -> None:
    ama = _contact(world, "ama", CREATED)
    kofi = _contact(world, "kofi", "Kofi Before")
    efua = _contact(world, "efua", "Efua Before")
    _contact(world, "nameless", None)
    accented = _contact(world, "accented", ACCENTED)
    # UpdateContact with the name alone (one statement by key) and with a plan (row read).
    world.call("UpdateContact", ContactId=kofi, DisplayName=RENAMED)
    world.call("UpdateContact", ContactId=efua, DisplayName=WITH_PLAN, Plan={"Stages": []})

    expected = {"ama": CREATED, "kofi": RENAMED, "efua": WITH_PLAN, "nameless": None,
                "accented": ACCENTED}
    for arn, alias in ((ama, "ama"), (kofi, "kofi"), (efua, "efua"), (accented, "accented")):
        assert world.call("GetContact", ContactId=arn)["DisplayName"] == expected[alias]
    listed = world.call("ListContacts")["Contacts"]
    assert {c["Alias"]: c.get("DisplayName") for c in listed} == expected

    stored = world.stored()
    assert stored[ACCOUNT, "nameless"] is None
    ring = crypto.KeyRing(world.key)
    for alias, name in expected.items():
        if name is None:
            continue
        value = stored[ACCOUNT, alias]
        assert value is not None and ring.is_current(value), value
        assert name not in value
        assert ring.open(value, aad=display_name_aad(ACCOUNT, REGION, alias)) == name
    data = world.file_bytes()
    assert CREATED.split()[1].encode() not in data
    for name in (*NAMES, "Kofi Before", "Efua Before"):
        assert name.encode() not in data, name


def test_an_empty_name_is_kept_sealed(world: World) -> None:
    arn = _contact(world, "blank", "")
    assert world.call("GetContact", ContactId=arn)["DisplayName"] == ""
    value = world.stored()[ACCOUNT, "blank"]
    assert value is not None and value.startswith("v1.")


def _set_stored(world: World, account: str, alias: str, value: str | None) -> None:
    with world.runtime.store.transaction() as conn:
        conn.execute(contacts.update().where(contacts.c.account == account,
                                             contacts.c.alias == alias)
                     .values(display_name=value))


def test_a_name_sealed_for_one_contact_does_not_open_on_another(world: World) -> None:
    ama = _contact(world, "ama", CREATED)
    kofi = _contact(world, "kofi", "Kofi Mensah")
    twin = _contact(world, "ama", "Ama Elsewhere", account=OTHER)
    sealed = world.stored()[ACCOUNT, "ama"]
    # Copied onto another contact of the account, and onto the same alias of another account.
    _set_stored(world, ACCOUNT, "kofi", sealed)
    _set_stored(world, OTHER, "ama", sealed)
    for account, arn in ((ACCOUNT, kofi), (OTHER, twin)):
        with pytest.raises(DataEncryptionException):
            world.call("GetContact", account, ContactId=arn)
        with pytest.raises(DataEncryptionException):
            world.call("ListContacts", account)
    assert world.call("GetContact", ContactId=ama)["DisplayName"] == CREATED


def test_a_wrong_key_answers_data_encryption_exception_for_a_name(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    first = _world(path, crypto.new_key())
    try:
        named = _contact(first, "ama", CREATED)
        nameless = _contact(first, "kofi", None)
    finally:
        first.runtime.close()
    second = _world(path, crypto.new_key())       # starts, and cannot open what is sealed
    try:
        with pytest.raises(DataEncryptionException):
            second.call("GetContact", ContactId=named)
        assert "DisplayName" not in second.call("GetContact", ContactId=nameless)
    finally:
        second.runtime.close()


def test_the_console_shows_names_and_renames_them_sealed(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        caller = Caller(ACCOUNT, REGION)
        ama = app.dispatcher.call(caller, "CreateContact", {
            "Alias": "ama", "DisplayName": CREATED, "Type": "PERSONAL",
            "Plan": {"Stages": []}})["ContactArn"]
        esc = app.dispatcher.call(caller, "CreateContact", {
            "Alias": "escalate", "Type": "ESCALATION", "Plan": {"Stages": []}})["ContactArn"]
        for n in range(forms.BOXED_OPTIONS):   # past which the editor lists names to choose
            app.dispatcher.call(caller, "CreateContact", {
                "Alias": f"person-{n:02d}", "Type": "PERSONAL", "Plan": {"Stages": []}})
        assert CREATED in client.get("/console/contacts").text
        page = contact_page(client, ama)
        assert f"<h1>{CREATED}</h1>" in page
        # The escalation plan editor offers the person by name.
        assert f'<option value="ama">{CREATED}</option>' in contact_page(client, esc)
        renamed = post(client, "rename-contact", page, arn=ama, name=RENAMED,
                       back=f"/console/contact?arn={ama}")
        assert flash(renamed.text) == "done: The contact's name is changed."
        assert f"<h1>{RENAMED}</h1>" in renamed.text
    store = app.runtime.store
    with store.transaction(write=False) as conn:
        (value,) = conn.execute(sa.select(contacts.c.display_name)
                                .where(contacts.c.alias == "ama")).one()
    assert value.startswith("v1.") and RENAMED not in value
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir()
                    if p.name.startswith("console.db") and p.is_file()
                    and not p.name.endswith(".key"))
    assert CREATED.encode() not in data and RENAMED.encode() not in data
