"""The ``incident-contacts`` command: version, serve with options and environment, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from incident_contacts import __version__
from tests.support.server import free_port, start_server


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


def test_no_inspection_hides_the_endpoints(tmp_path):
    server = start_server(tmp_path, args=["--no-inspection"])
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/messages").status_code == 404
        assert httpx.post(f"{server.url}/_aws/ssm-contacts/clock",
                          json={"AdvanceSeconds": 1}).status_code == 404
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health").status_code == 200
    finally:
        server.stop()


def test_postgresql_without_a_key_refuses_to_start(tmp_path, pg_database):
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve", "--port", str(free_port()),
         "--database", pg_database],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "INCIDENT_CONTACTS_DATA_KEY" in result.stderr
