"""``incident-contacts rotate-key`` against real databases, offline and under a running server."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from incident_contacts import crypto
from incident_contacts.store.rotate import SEALED_COLUMNS
from tests.security.support import QUIET, channel, client, error, new_data_key, personal
from tests.security.test_encryption import ACCOUNT, DISPLAY_NAME, EMAIL, PHONE, _populate
from tests.support.server import ServerProcess, restart, start_server

pytestmark = pytest.mark.server


def rotate_key(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "incident_contacts", "rotate-key", "--database", database, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def key_ids(database: Path) -> Counter[str]:
    """How many sealed values each key id seals."""
    engine = sa.create_engine(f"sqlite:///{database}")
    counts: Counter[str] = Counter()
    try:
        with engine.connect() as conn:
            for sealed in SEALED_COLUMNS:
                query = sa.text(f'SELECT "{sealed.column}" FROM "{sealed.table}"')
                for (value,) in conn.execute(query):
                    if value is not None:
                        counts[value.split(".")[1]] += 1
    finally:
        engine.dispose()
    return counts


def kid(key: str) -> str:
    return crypto.key_id(base64.b64decode(key))


def readable(server: ServerProcess, made: dict[str, str]) -> list[dict[str, Any]]:
    c = client(server, account=ACCOUNT)
    for name in ("sms", "voice", "email"):
        assert c.get_contact_channel(ContactChannelId=made[name])["DeliveryAddress"]
    assert len(c.list_contact_channels(ContactId=made["contact"])["ContactChannels"]) >= 4
    assert c.describe_engagement(EngagementId=made["engagement"])["Content"]
    assert c.get_contact(ContactId=made["contact"])["DisplayName"] == DISPLAY_NAME
    return server.messages()


def test_rotate_key_offline_keeps_every_record_readable(tmp_path: Path) -> None:
    old, new = new_data_key(), new_data_key()
    server = start_server(tmp_path, env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": old})
    made = _populate(server)
    c = client(server, account=ACCOUNT)
    first_page = c.list_contact_channels(ContactId=made["contact"], MaxResults=1)
    before = readable(server, made)
    server.stop()
    database = tmp_path / "server.db"
    assert set(key_ids(database)) == {kid(old)}

    done = rotate_key(f"sqlite:///{database}", "--old-key", old, "--new-key", new,
                      "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    total = sum(key_ids(database).values())
    assert f"re-sealed {total} values under key {kid(new)}" in done.stderr
    assert set(key_ids(database)) == {kid(new)}

    server.env["INCIDENT_CONTACTS_DATA_KEY"] = new          # the new key alone
    server = restart(server)
    try:
        assert readable(server, made) == before
        c = client(server, account=ACCOUNT)
        # The server's secrets were re-sealed, not changed: pagination tokens, blind indexes
        # and code hashes made before the rotation still work.
        rest = c.list_contact_channels(ContactId=made["contact"], MaxResults=1,
                                       NextToken=first_page["NextToken"])
        assert rest["ContactChannels"]
        with pytest.raises(ClientError) as info:
            channel(c, made["contact"], EMAIL, "EMAIL")
        assert error(info)[0] == "ConflictException"
        c.send_activation_code(ContactChannelId=made["voice"])
        code = [m for m in server.messages(made["voice"]) if m["Purpose"] == "ACTIVATION"][-1]
        c.activate_contact_channel(ContactChannelId=made["voice"],
                                   ActivationCode=code["ActivationCode"])
    finally:
        server.stop()


def test_rotate_key_online_under_a_server_holding_both_keys(tmp_path: Path) -> None:
    old, new = new_data_key(), new_data_key()
    server = start_server(tmp_path, env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": old})
    made = _populate(server)
    server.stop()
    server.env.update(INCIDENT_CONTACTS_DATA_KEY=new, INCIDENT_CONTACTS_OLD_DATA_KEYS=old)
    server = restart(server)
    database = tmp_path / "server.db"
    try:
        c = client(server, account=ACCOUNT)
        stop = threading.Event()
        created: list[str] = []
        failures: list[BaseException] = []

        def traffic() -> None:
            try:
                n = 0
                while not stop.is_set():
                    n += 1
                    created.append(channel(c, made["contact"], f"+1600555{n:04d}",
                                           name=f"online-{n}", defer=True))
                    c.get_contact_channel(ContactChannelId=made["sms"])
            except BaseException as exc:
                failures.append(exc)

        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            done = rotate_key(f"sqlite:///{database}", "--old-key", old, "--new-key", new,
                              "--batch-size", "1")
        finally:
            stop.set()
            worker.join(60)
        assert done.returncode == 0, done.stderr
        assert failures == []
        assert created
        assert set(key_ids(database)) == {kid(new)}
        before = readable(server, made)
    finally:
        server.stop()
    server.env.pop("INCIDENT_CONTACTS_OLD_DATA_KEYS")
    server = restart(server)
    try:
        assert readable(server, made) == before
        c = client(server, account=ACCOUNT)
        for arn in created:
            assert c.get_contact_channel(ContactChannelId=arn)["DeliveryAddress"]
    finally:
        server.stop()


def test_rotate_key_with_a_wrong_old_key_changes_nothing(tmp_path: Path) -> None:
    old = new_data_key()
    server = start_server(tmp_path, env={**QUIET, "INCIDENT_CONTACTS_DATA_KEY": old})
    c = client(server, account=ACCOUNT)
    phone = channel(c, personal(c, "wrong-old"), PHONE, defer=True)
    server.stop()
    database = tmp_path / "server.db"
    before = key_ids(database)

    done = rotate_key(f"sqlite:///{database}", "--old-key", new_data_key(),
                      "--new-key", new_data_key())
    assert done.returncode == 1
    assert f"{sum(before.values())} values open under none of the keys given" in done.stderr
    assert "channels:" in done.stderr
    assert key_ids(database) == before
    server = restart(server)
    try:
        got = client(server, account=ACCOUNT).get_contact_channel(ContactChannelId=phone)
        assert got["DeliveryAddress"]["SimpleAddress"] == PHONE
    finally:
        server.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--old-key", "bm90IGEga2V5", "--new-key", "@NEW"], "--old-key: a data key must be 32"),
    (["--old-key", "@NEW", "--new-key", "not base64!"], "--new-key: a data key must be 32"),
    (["--new-key", "@NEW"], "--old-key is required"),
])
def test_rotate_key_refuses_bad_keys(tmp_path: Path, args: list[str], message: str) -> None:
    key = new_data_key()
    done = rotate_key(f"sqlite:///{tmp_path / 'absent.db'}",
                      *[key if a == "@NEW" else a for a in args])
    assert done.returncode == 2
    assert message in done.stderr


def test_rotate_key_refuses_a_missing_database(tmp_path: Path) -> None:
    done = rotate_key(f"sqlite:///{tmp_path / 'absent.db'}", "--old-key", new_data_key(),
                      "--new-key", new_data_key())
    assert done.returncode == 2
    assert "no database at" in done.stderr
    assert not (tmp_path / "absent.db").exists()


def _sealed_under(tmp_path: Path, key: str) -> Path:
    """A SQLite database whose server secrets are sealed under ``key``."""
    from incident_contacts.config import Settings
    from incident_contacts.server import build_runtime

    database = tmp_path / "contacts.db"
    build_runtime(Settings(database=f"sqlite:///{database}", data_key=key)).close()
    assert set(key_ids(database)) == {kid(key)}
    return database


def _rotate_with_env(database: Path, env: dict[str, str],
                     *args: str) -> subprocess.CompletedProcess[str]:
    import os

    kept = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_CONTACTS_")}
    return subprocess.run(
        [sys.executable, "-m", "incident_contacts", "rotate-key", "--database",
         f"sqlite:///{database}", *args],
        capture_output=True, text=True, timeout=120, check=False, env={**kept, **env})


def test_rotate_key_takes_the_new_key_from_the_data_key_file(tmp_path: Path) -> None:
    """A deployment keeping its key in a file (systemd's LoadCredential=) rotates without
    writing a key on a command line, where every local user could read it (the first
    version wanted --new-key or INCIDENT_CONTACTS_DATA_KEY)."""
    old, new = new_data_key(), new_data_key()
    database = _sealed_under(tmp_path, old)
    key_file = tmp_path / "data.key"
    key_file.write_text(new + "\n")
    key_file.chmod(0o600)
    done = _rotate_with_env(database, {"INCIDENT_CONTACTS_DATA_KEY_FILE": str(key_file),
                                       "INCIDENT_CONTACTS_OLD_DATA_KEYS": old})
    assert done.returncode == 0, done.stderr
    assert set(key_ids(database)) == {kid(new)}
    assert "process list" not in done.stderr

    key_file.chmod(0o644)
    refused = _rotate_with_env(database, {"INCIDENT_CONTACTS_DATA_KEY_FILE": str(key_file),
                                          "INCIDENT_CONTACTS_OLD_DATA_KEYS": new})
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip() == (
        f"incident-contacts: the data key file {key_file} can be read or changed by other "
        f"users (mode 0644); a file holding a secret must not be: chmod 600 {key_file}")
    assert new not in refused.stderr


def test_rotate_key_warns_that_keys_on_the_command_line_are_seen(tmp_path: Path) -> None:
    old, new = new_data_key(), new_data_key()
    database = _sealed_under(tmp_path, old)
    done = _rotate_with_env(database, {}, "--old-key", old, "--new-key", new)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "process list" in line]
    assert len(warned) == 1 and "WARNING" in warned[0], done.stderr
    assert old not in warned[0] and new not in warned[0]
