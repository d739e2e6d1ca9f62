"""Personal data at rest, on a real server: sealed in the database files, readable through the
API with the right key, DataEncryptionException (never a 500, never garbage) without it."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.security.support import QUIET, channel, client, error, new_data_key, personal
from tests.support.server import ServerProcess, restart, start_server

pytestmark = pytest.mark.server

ACCOUNT = "135791357913"
PHONE = "+15005550147"
VOICE = "+15005550148"
NEW_PHONE = "+15005550149"
EMAIL = "akua.mansa.sealed@example.com"
SUBJECT = "Subject-disk-full-on-db01"
CONTENT = "Content-the-primary-database-is-at-99-percent"
DISPLAY_NAME = "Akua Mansa Sealedperson"


def database_bytes(workdir: Path) -> dict[str, bytes]:
    """The SQLite database and its WAL and shared-memory files, as bytes (not the directory
    of the delivery workers' lock files, ``server.db.workers``, which holds worker ids)."""
    files = {p.name: p.read_bytes() for p in workdir.iterdir()
             if p.name.startswith("server.db") and not p.name.endswith(".key") and p.is_file()}
    assert "server.db" in files
    return files


def secrets_in(files: dict[str, bytes], *needles: str) -> list[str]:
    return [f"{needle!r} in {name}" for name, data in files.items() for needle in needles
            if needle.encode() in data]


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _populate(server: ServerProcess) -> dict[str, str]:
    c = client(server, account=ACCOUNT)
    contact = personal(c, "sealed")
    c.update_contact(ContactId=contact, DisplayName=DISPLAY_NAME)
    sms = channel(c, contact, PHONE, "SMS", name="sms-channel-name")
    voice = channel(c, contact, VOICE, "VOICE", name="voice-channel-name")
    email = channel(c, contact, EMAIL, "EMAIL", name="email-channel-name")
    c.update_contact_channel(ContactChannelId=sms, DeliveryAddress={"SimpleAddress": NEW_PHONE})
    code = next(m["ActivationCode"] for m in server.messages(email))
    c.activate_contact_channel(ContactChannelId=email, ActivationCode=code)
    c.create_contact_channel(ContactId=contact, Name="idempotent", Type="SMS",
                             DeliveryAddress={"SimpleAddress": PHONE}, DeferActivation=True,
                             IdempotencyToken="token-1")
    c.update_contact(ContactId=contact, Plan={"Stages": [{
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": email}}],
    }]})
    engagement = c.start_engagement(ContactId=contact, Sender="tester", Subject=SUBJECT,
                                    Content=CONTENT)["EngagementArn"]
    wait_for(lambda: any(m.get("PageArn") for m in server.messages(email)))
    return {"contact": contact, "sms": sms, "voice": voice, "email": email,
            "engagement": engagement}


def test_no_personal_data_in_plaintext_in_the_database_files(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": new_data_key()})
    try:
        made = _populate(server)
        c = client(server, account=ACCOUNT)
        # The data is there and reads back through the API ...
        assert c.get_contact_channel(ContactChannelId=made["email"])["DeliveryAddress"] == {
            "SimpleAddress": EMAIL}
        described = c.describe_engagement(EngagementId=made["engagement"])
        assert (described["Subject"], described["Content"]) == (SUBJECT, CONTENT)
        assert c.get_contact(ContactId=made["contact"])["DisplayName"] == DISPLAY_NAME
        # ... and the files show what is not sealed (so the search below can find things) ...
        files = database_bytes(tmp_path)
        assert secrets_in(files, "sms-channel-name", "email-channel-name")
        # ... but no address, in any form, and no engagement words: not in the WAL either.
        needles = (PHONE, VOICE, NEW_PHONE, PHONE[1:], NEW_PHONE[1:], VOICE[1:], EMAIL,
                   "akua.mansa.sealed", SUBJECT, CONTENT, DISPLAY_NAME, "Sealedperson")
        assert secrets_in(files, *needles) == []
    finally:
        server.stop()
    assert secrets_in(database_bytes(tmp_path), *needles) == []


def test_a_wrong_key_answers_data_encryption_exception(tmp_path: Path) -> None:
    right, wrong = new_data_key(), new_data_key()
    server = start_server(tmp_path, env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": right})
    c = client(server, account=ACCOUNT)
    contact = personal(c, "wrong-key")
    phone = channel(c, contact, PHONE, defer=True)
    server.stop()
    server.env["INCIDENT_CONTACTS_DATA_KEY"] = wrong
    server = restart(server)                 # the server starts, and says what it cannot read
    try:
        c = client(server, account=ACCOUNT)
        assert c.get_contact(ContactId=contact)["Alias"] == "wrong-key"   # nothing sealed
        calls: list[Callable[[], Any]] = [
            lambda: c.get_contact_channel(ContactChannelId=phone),
            lambda: c.list_contact_channels(ContactId=contact),
            lambda: c.create_contact_channel(ContactId=contact, Name="x", Type="SMS",
                                             DeliveryAddress={"SimpleAddress": VOICE}),
        ]
        for call in calls:
            with pytest.raises(ClientError) as info:
                call()
            code, status, _message = error(info)
            assert (code, status) == ("DataEncryptionException", 400)
        # The console cannot sign anyone in without its session secret, and says why.
        console = httpx.get(server.url + "/console/login")
        assert console.status_code == 503 and "data key" in console.text
        assert "does not open with the configured data keys" in server.log()
        assert "Traceback" not in server.log()
    finally:
        server.stop()
    # With the right key among the old keys, everything reads again.
    server.env["INCIDENT_CONTACTS_OLD_DATA_KEYS"] = right
    server = restart(server)
    try:
        got = client(server, account=ACCOUNT).get_contact_channel(ContactChannelId=phone)
        assert got["DeliveryAddress"]["SimpleAddress"] == PHONE
    finally:
        server.stop()


def test_development_mode_generates_a_key_and_says_so(tmp_path: Path) -> None:
    server = start_server(tmp_path, env=QUIET)
    key_file = tmp_path / "server.db.key"
    try:
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert f"generated one into {key_file}" in server.log()
        c = client(server, account=ACCOUNT)
        phone = channel(c, personal(c, "generated"), PHONE, defer=True)
    finally:
        server.stop()
    key = key_file.read_text()
    server = restart(server)                 # the same key, read back
    try:
        assert key_file.read_text() == key
        got = client(server, account=ACCOUNT).get_contact_channel(ContactChannelId=phone)
        assert got["DeliveryAddress"]["SimpleAddress"] == PHONE
        assert secrets_in(database_bytes(tmp_path), PHONE) == []
    finally:
        server.stop()


def test_inspection_shows_messages_it_cannot_open_without_failing(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": new_data_key()})
    c = client(server, account=ACCOUNT)
    phone = channel(c, personal(c, "inspect"), PHONE)
    server.stop()
    server.env["INCIDENT_CONTACTS_DATA_KEY"] = new_data_key()
    server = restart(server)
    try:
        response = httpx.get(f"{server.url}/_aws/ssm-contacts/messages", timeout=10)
        assert response.status_code == 200
        (message,) = [m for m in response.json()["messages"] if m["ContactChannelArn"] == phone]
        assert "DeliveryAddress" not in message and "ActivationCode" not in message
    finally:
        server.stop()
