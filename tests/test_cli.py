"""The ``incident-contacts`` command: version, serve with options and environment, SIGTERM."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import boto3
import httpx
import pytest

from incident_contacts import __version__
from incident_contacts.store.db import Store
from tests.support.server import free_port, start_server


@pytest.fixture(autouse=True)
def _any_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers these tests start take a free port unless a test names one: a server left
    running on the default port (as the README's set-up leaves one) must not turn a refusal
    under test into "port in use"."""
    monkeypatch.setenv("INCIDENT_CONTACTS_PORT", "0")


def test_version():
    out = subprocess.run([sys.executable, "-m", "incident_contacts", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert __version__ in out


def test_serve_from_environment_and_clean_sigterm(tmp_path):
    port = free_port()
    database = tmp_path / "env.db"
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_PORT": str(port),
                                         "INCIDENT_CONTACTS_DATABASE": f"sqlite:///{database}"},
                          port=port)
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health").json() == {"status": "ok"}
        assert database.exists()
        assert (tmp_path / "env.db.key").stat().st_mode & 0o777 == 0o600
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0
    assert "Finished server process" in server.log()
    assert "Running upgrade  -> 0001" in server.log()
    assert "setup plugin" not in server.log()       # alembic's roll-call, at every start


def test_no_inspection_hides_the_endpoints(tmp_path):
    server = start_server(tmp_path, args=["--no-inspection"])
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/messages").status_code == 404
        assert httpx.post(f"{server.url}/_aws/ssm-contacts/clock",
                          json={"AdvanceSeconds": 1}).status_code == 404
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health").status_code == 200
    finally:
        server.stop()


def test_the_start_up_lines_never_show_the_database_password(tmp_path, pg_database):
    """The password of a PostgreSQL URL stays out of the log (the cluster trusts loopback,
    so any password connects)."""
    secret = "s3cret-Pa55word"
    url = pg_database.replace("postgres@", f"postgres:{secret}@", 1)
    env = {"INCIDENT_CONTACTS_DATA_KEY": base64.b64encode(os.urandom(32)).decode()}
    server = start_server(tmp_path, database=url, env=env)
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health").status_code == 200
    finally:
        server.stop(signal.SIGTERM)
    assert "(database postgresql://postgres:***@127.0.0.1" in server.log()
    worker = subprocess.Popen(
        [sys.executable, "-m", "incident_contacts", "worker", "--database", url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **env},
        cwd=tmp_path, text=True)
    try:
        first = worker.stdout.readline() if worker.stdout else ""
        while "worker (database" not in first and first:
            first = worker.stdout.readline() if worker.stdout else ""
    finally:
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=30)
    assert "worker (database postgresql://postgres:***@127.0.0.1" in first
    assert secret not in server.log() + first + rest


def test_a_password_given_as_a_query_parameter_is_hidden_too():
    from incident_contacts.cli import _shown_url

    shown = _shown_url("postgresql://ops@db/contacts?sslmode=require&password=s3cret&x=1")
    assert "s3cret" not in shown and "password=***" in shown and "sslmode=require" in shown


def test_port_0_takes_a_free_port_which_the_start_up_line_names(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "incident_contacts", "serve", "--port", "0", "--database",
         f"sqlite:///{tmp_path / 'zero.db'}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        line = ""
        while process.stdout is not None and " on http://" not in line:
            line = process.stdout.readline()
            assert line, "the server ended before its start-up line"
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        port = int(url.rsplit(":", 1)[1])
        assert port != 0 and url == f"http://127.0.0.1:{port}"
        # The console's address too, for whoever reads the line to open it.
        assert line.rstrip().endswith(f", console http://127.0.0.1:{port}/console/)"), line
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/_aws/ssm-contacts/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health.json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_a_port_in_use_is_a_one_line_refusal_before_anything_is_made(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "incident_contacts", "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on '127.0.0.1' port {port} (--host, --port): Address already in use" \
        in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_the_start_up_line_writes_an_ipv6_host_in_brackets():
    from incident_contacts.cli import _url_host

    assert _url_host("::1") == "[::1]"
    assert _url_host("127.0.0.1") == "127.0.0.1"
    assert _url_host("[::1]") == "[::1]"


def test_postgresql_without_a_key_refuses_to_start(tmp_path, pg_database):
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve", "--port", str(free_port()),
         "--database", pg_database],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "INCIDENT_CONTACTS_DATA_KEY" in result.stderr


def _cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "incident_contacts", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_backup_while_the_server_writes(tmp_path):
    """A consistent copy taken while requests commit; a server started on it with the
    database's key reads everything, sealed addresses included."""
    live = tmp_path / "live"
    live.mkdir()
    # As many contacts as the writer makes while the backup runs: no quota.
    server = start_server(live, env={"INCIDENT_CONTACTS_QUOTA_CONTACTS": "0"})
    client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id="111122223333", aws_secret_access_key="x")
    writing = threading.Event()
    written: list[str] = []

    def write() -> None:
        while not writing.is_set():
            written.append(client.create_contact(
                Alias=f"c{len(written)}", Type="PERSONAL", Plan={"Stages": []})["ContactArn"])

    try:
        contact = client.create_contact(Alias="ama", Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
        client.create_contact_channel(ContactId=contact, Name="mail", Type="EMAIL",
                                      DeliveryAddress={"SimpleAddress": "ama@example.com"},
                                      DeferActivation=True)
        thread = threading.Thread(target=write)
        thread.start()
        try:
            while len(written) < 20:
                time.sleep(0.01)
            copy = tmp_path / "copy.db"
            result = _cli("backup", str(copy), "--database", f"sqlite:///{live / 'server.db'}",
                          cwd=tmp_path)
        finally:
            writing.set()
            thread.join()
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert "the data key is not in it" in result.stderr
    assert copy.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "copy.db.partial").exists()

    restored = tmp_path / "restored"
    restored.mkdir()
    server = start_server(restored, database=f"sqlite:///{copy}", env={
        "INCIDENT_CONTACTS_DATA_KEY_FILE": str(live / "server.db.key")})
    try:
        client = boto3.client("ssm-contacts", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="111122223333", aws_secret_access_key="x")
        (channel,) = client.list_contact_channels(ContactId=contact)["ContactChannels"]
        assert channel["DeliveryAddress"] == {"SimpleAddress": "ama@example.com"}
        aliases = {c["Alias"] for page in client.get_paginator("list_contacts").paginate()
                   for c in page["Contacts"]}
        # A snapshot: everything the backup began after, and nothing half-written.
        assert {"ama", *(f"c{n}" for n in range(20))} <= aliases
        assert aliases <= {"ama", *(f"c{n}" for n in range(len(written)))}
    finally:
        server.stop()


def test_backup_refuses_what_it_cannot_copy(tmp_path):
    (tmp_path / "there.db").write_bytes(b"")
    for args, said in (
            (["there.db", "--database", "sqlite:///missing.db"], "no database at missing.db"),
            (["there.db", "--database", "sqlite:///there.db"], "exists already"),
            (["new.db", "--database", "postgresql://db.example/contacts"], "use pg_dump"),
            (["new.db", "--database", "sqlite://"], "nothing to back up")):
        result = _cli("backup", *args, cwd=tmp_path)
        assert result.returncode == 2 and said in result.stderr, (args, result.stderr)
    assert not (tmp_path / "new.db").exists()


def test_json_logs(tmp_path):
    """Every line the server writes is a JSON object, uvicorn's own included."""
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_LOG_FORMAT": "json"})
    try:
        httpx.post(server.url, content=b"{}",
                   headers={"X-Amz-Target": "SSMContacts.ListContacts"})
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0
    records = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not any("color_message" in r for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith(f"incident-contacts {__version__} on http://") for m in messages)
    assert "Application startup complete." in messages


def test_backup_is_owner_only_from_the_start_and_fails_cleanly(tmp_path):
    """The copy is made owner-only before a byte is written; a partial file already there is
    never touched; a source that is not a database, or a destination that cannot be written,
    is a clear refusal that leaves nothing behind."""
    source = tmp_path / "live.db"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    (tmp_path / "out.db.partial").write_text("someone else's")
    taken = _cli("backup", "out.db", "--database", f"sqlite:///{source}", cwd=tmp_path)
    assert taken.returncode == 2 and "another backup may be writing it" in taken.stderr
    assert (tmp_path / "out.db.partial").read_text() == "someone else's"

    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    junk = _cli("backup", "copy.db", "--database", f"sqlite:///{tmp_path / 'junk.db'}",
                cwd=tmp_path)
    assert junk.returncode == 2 and "the backup failed" in junk.stderr
    assert "Traceback" not in junk.stderr
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "copy.db.partial").exists()

    nowhere = _cli("backup", "missing-dir/copy.db", "--database", f"sqlite:///{source}",
                   cwd=tmp_path)
    assert nowhere.returncode == 2 and "cannot write" in nowhere.stderr

    old = os.umask(0o022)
    try:
        made = _cli("backup", "good.db", "--database", f"sqlite:///{source}", cwd=tmp_path)
    finally:
        os.umask(old)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "good.db").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("args", "env", "said"), [
    (["--database", "bogus://x"], {}, "cannot open the database"),
    (["--database", "notaurl"], {}, "cannot open the database"),
    ([], {"INCIDENT_CONTACTS_WORKERS": "ture"}, "'ture' is not true or false"),
    ([], {"INCIDENT_CONTACTS_QUOTA_CONTACTS": "-1"},
     "INCIDENT_CONTACTS_QUOTA_CONTACTS must be at least 0, not -1"),
    ([], {"INCIDENT_CONTACTS_ACTIVATION_CODE_TTL": "0"},
     "INCIDENT_CONTACTS_ACTIVATION_CODE_TTL must be at least 1"),
    ([], {"INCIDENT_CONTACTS_THROTTLE_RATE": "-5"}, "INCIDENT_CONTACTS_THROTTLE_RATE must be"),
    (["--port", "70000"], {}, "70000 is not in the range"),
    ([], {"INCIDENT_CONTACTS_READ_CACHE": "1e3"},
     "INCIDENT_CONTACTS_READ_CACHE: '1e3' is not a whole number"),
    ([], {"INCIDENT_CONTACTS_THROTTLE_RATE": "fast"},
     "INCIDENT_CONTACTS_THROTTLE_RATE: 'fast' is not a number"),
    # ARNs made with these would be refused by the API itself, so nothing made could be named
    ([], {"INCIDENT_CONTACTS_DEFAULT_ACCOUNT": "abc"},
     "INCIDENT_CONTACTS_DEFAULT_ACCOUNT must be 12 digits, not 'abc'"),
    ([], {"INCIDENT_CONTACTS_DEFAULT_REGION": "Bad Region!"},
     "INCIDENT_CONTACTS_DEFAULT_REGION must be a region's name"),
    ([], {"INCIDENT_CONTACTS_PUBLIC_URL": "paging.example.com"},
     "INCIDENT_CONTACTS_PUBLIC_URL must be an http:// or https:// URL"),
    ([], {"INCIDENT_CONTACTS_AUTH": "sigv5"},
     "INCIDENT_CONTACTS_AUTH must be off or sigv4, not 'sigv5'"),
    ([], {"INCIDENT_CONTACTS_DATA_KEY": "A" * 43 + "=", "INCIDENT_CONTACTS_DATA_KEY_FILE": "k"},
     "INCIDENT_CONTACTS_DATA_KEY and INCIDENT_CONTACTS_DATA_KEY_FILE are both set"),
    (["--auth", "sigv4"], {}, "--auth sigv4 needs a credentials file"),
    ([], {"INCIDENT_CONTACTS_HOST": "nosuchhost.invalid", "INCIDENT_CONTACTS_PORT": "4575"},
     "cannot listen on 'nosuchhost.invalid' port 4575 (--host, --port)"),
    (["--auth", "sigv4", "--credentials", "missing.toml"], {},
     "cannot read the credentials file missing.toml"),
])
def test_bad_settings_are_one_line_refusals(tmp_path, args, env, said):
    """A setting that cannot work stops the server at once, saying which, with no traceback
    and nothing made on disk."""
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve", *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, **env})
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.db*"))


@pytest.mark.parametrize("url", ["htps://hook:s3cret-pw@paging.example.com/",
                                 "https://hook:s3cret-pw@", "hook:s3cret-pw@paging.example.com"])
def test_a_refused_public_url_is_named_without_its_password(url):
    """Providers' webhooks may carry basic authentication in the public URL; a URL refused
    is quoted with its user and password left out."""
    from incident_contacts.config import from_environ

    with pytest.raises(ValueError, match="PUBLIC_URL must be an http") as refused:
        from_environ({"INCIDENT_CONTACTS_PUBLIC_URL": url})
    assert "s3cret-pw" not in str(refused.value) and "***@" in str(refused.value)


_KEY = "A" * 43 + "="
_OTHER_KEY = "B" * 43 + "="


@pytest.mark.parametrize("args", [
    ["rotate-key", "--old-key", _KEY, "--new-key", _OTHER_KEY],
    ["backup", "copy.db"],
])
@pytest.mark.parametrize("url", ["notaurl", "mysql://nobody@127.0.0.1:1/contacts",
                                 "postgresql://nobody@127.0.0.1:1/contacts"])
def test_tools_refuse_a_database_they_cannot_open_in_one_line(tmp_path, args, url):
    """rotate-key and backup say in one line that the database cannot be opened (or is not
    one they work on), as serve does, never with a traceback."""
    result = _cli(*args, "--database", url, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("incident-contacts: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(tmp_path.iterdir())


def test_credentials_without_sigv4_are_called_out(tmp_path):
    """A credentials file given while authentication is off verifies nothing: the server
    says so at start rather than silently serving every request unverified."""
    credentials = tmp_path / "credentials.toml"
    credentials.write_text('[[credentials]]\naccess_key_id = "AKIAEXAMPLE00000001"\n'
                           'secret_access_key = "s"\naccount_id = "111122223333"\n'
                           'user = "alice"\n')
    server = start_server(tmp_path, args=["--credentials", str(credentials)])
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health").status_code == 200
    finally:
        server.stop()
    assert "requests are not verified" in server.log()
    assert "--auth sigv4" in server.log()


def test_channel_types_without_a_provider_are_named_at_start(tmp_path):
    """With email configured but no SMS or voice provider, texts and calls would only be
    recorded, and shown as SENT: the log says so at start, naming the types."""
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_SMTP_URL": "smtp://127.0.0.1:1"})
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health").status_code == 200
    finally:
        server.stop()
    warned = [line for line in server.log().splitlines()
              if "have no provider" in line or "has no provider" in line]
    assert len(warned) == 1 and "WARNING" in warned[0], server.log()
    assert "SMS, VOICE" in warned[0] and "EMAIL" not in warned[0]
    assert "not sent" in warned[0]


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_database_in_a_missing_folder_is_refused_and_no_folder_made(tmp_path, command):
    """A mistyped path is not quietly made into a tree of folders holding a new database."""
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", command, "--database",
         "sqlite:///mistyped/folder/contacts.db"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "folder mistyped/folder does not exist" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_missing_folder_with_a_data_key_given_is_one_line_too(tmp_path, command):
    """With the key given, no key file is looked for: the database's first connection
    reports the missing folder, and no thread prints a traceback before it."""
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", command, "--database",
         f"sqlite:///{tmp_path / 'missing' / 'contacts.db'}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "INCIDENT_CONTACTS_DATA_KEY": base64.b64encode(bytes(32)).decode()})
    assert result.returncode == 2, result.stderr
    assert "cannot open the database" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_database_migrated_by_a_newer_version_is_refused(tmp_path, command):
    """A server older than the database's schema (a rolling upgrade on PostgreSQL, or a
    downgrade) stops with one line saying so, and leaves the database as it was."""
    database = tmp_path / "newer.db"
    store = Store(f"sqlite:///{database}")
    store.migrate()
    store.dispose()
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    before = database.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", command, "--database",
         f"sqlite:///{database}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "schema revision 9999_from_the_future" in result.stderr
    assert "Upgrade this server" in result.stderr and "Traceback" not in result.stderr
    assert database.read_bytes() == before
