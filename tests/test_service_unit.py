"""contrib/systemd/incident-contacts.service: systemd accepts it, and its command line works."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.support.server import ServerProcess, _healthy, free_port

UNIT = Path(__file__).resolve().parents[1] / "contrib" / "systemd" / "incident-contacts.service"
STATE = "/var/lib/incident-contacts"
INSTALLED = "/opt/incident-contacts/bin/incident-contacts"


def _service(key: str) -> list[str]:
    """The values of ``key`` in the unit's [Service] section, comments left out."""
    values, section = [], None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith(f"{key}="):
            values.append(line.split("=", 1)[1])
    return values


def _here() -> str:
    """This environment's ``incident-contacts`` script, for the unit's installed path."""
    script = Path(sys.executable).parent / "incident-contacts"
    found = str(script) if script.exists() else shutil.which("incident-contacts")
    assert found, "the incident-contacts command is not installed"
    return found


@pytest.fixture
def unit_here(tmp_path: Path) -> Path:
    copy = tmp_path / "incident-contacts.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED, _here()))
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_accepts_the_unit_without_a_warning(unit_here: Path) -> None:
    verified = subprocess.run(["systemd-analyze", "verify", str(unit_here)],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    # Unknown or misspelt settings are only warnings (exit status 0): none is allowed.
    assert unit_here.name not in verified.stderr + verified.stdout, verified.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit_here)],
                              capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert found, security.stdout + security.stderr
    # systemd's scale runs from 0 (everything locked down) to 10; "OK" is below 2.
    assert float(found.group(1)) < 2.0, security.stdout


def test_the_units_command_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The unit's ExecStart, with its state directory moved into a temporary folder and the
    unit's umask, starts a server that works; SIGTERM (the unit's KillSignal) ends it with
    status 0, which systemd counts as a clean stop. What it writes is its user's alone."""
    (exec_start,) = _service("ExecStart")
    assert _service("KillSignal") == ["SIGTERM"]
    (umask,) = _service("UMask")
    (workdir,) = _service("WorkingDirectory")
    assert workdir == STATE and _service("StateDirectory") == ["incident-contacts"]
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    port = free_port()
    command = shlex.split(exec_start.replace(STATE, str(state)))
    assert command[0] == INSTALLED
    command[0] = _here()
    command[command.index("--port") + 1] = str(port)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("INCIDENT_CONTACTS_")}
    log_path = tmp_path / "unit.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=state,
                                   env=env, umask=int(umask, 8))
    server = _healthy(ServerProcess(f"http://127.0.0.1:{port}", process, log_path, command, env),
                      30)
    try:
        client = boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                              aws_access_key_id="111122223333", aws_secret_access_key="x",
                              config=Config(retries={"total_max_attempts": 1}))
        arn = client.create_contact(Alias="unit", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
        assert client.get_contact(ContactId=arn)["Alias"] == "unit"
        assert httpx.get(f"{server.url}/metrics").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, server.log()
    written = [path for path in state.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {"incident-contacts.db",
                                                "incident-contacts.db.key"}
    for path in written:
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
