"""Running real servers for tests: a subprocess on loopback, stopped by the test that started it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def messages(self, channel_arn: str | None = None) -> list[dict[str, Any]]:
        params = {"ContactChannelArn": channel_arn} if channel_arn else None
        response = httpx.get(f"{self.url}/_aws/ssm-contacts/messages", params=params, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["messages"]
        return result

    def advance(self, seconds: float) -> float:
        response = httpx.post(f"{self.url}/_aws/ssm-contacts/clock",
                              json={"AdvanceSeconds": seconds}, timeout=10)
        response.raise_for_status()
        now: float = response.json()["Now"]
        return now


def start_server(workdir: Path, *, database: str | None = None, args: list[str] | None = None,
                 env: Mapping[str, str] | None = None, port: int | None = None,
                 timeout: float = 30.0, https_trusting: Path | None = None) -> ServerProcess:
    """Start ``incident-contacts serve`` and wait until its health endpoint answers.

    ``https_trusting``: the server serves HTTPS (its certificate given in ``args`` or
    ``env``) and the health check trusts this certificate."""
    env = dict(env or {})
    port = port or int(env.get("INCIDENT_CONTACTS_PORT") or free_port())
    command = [sys.executable, "-m", "incident_contacts", "serve", "--host", "127.0.0.1"]
    # Options the environment gives are left to the environment, so that it is what is tested.
    if "INCIDENT_CONTACTS_PORT" not in env:
        command += ["--port", str(port)]
    if "INCIDENT_CONTACTS_DATABASE" not in env:
        command += ["--database", database or f"sqlite:///{workdir / 'server.db'}"]
    command += args or []
    full_env = {**os.environ, **env}
    log_path = workdir / f"server-{port}.log"
    handle = log_path.open("wb")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=full_env,
                               cwd=workdir)
    handle.close()
    scheme = "http" if https_trusting is None else "https"
    server = ServerProcess(f"{scheme}://127.0.0.1:{port}", process, log_path, command, full_env)
    verify: Any = True if https_trusting is None else trusting(https_trusting)
    return _healthy(server, timeout, verify)


def trusting(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts ``cert`` (a test's self-signed certificate)."""
    return ssl.create_default_context(cafile=str(cert))


def _healthy(server: ServerProcess, timeout: float, verify: Any = True) -> ServerProcess:
    """Wait until the server's health endpoint answers; fail with its log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/_aws/ssm-contacts/health", timeout=1,
                         verify=verify).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"the server did not become healthy in {timeout}s:\n{server.log()}")


def restart(server: ServerProcess, timeout: float = 30.0) -> ServerProcess:
    """Start the same command again (same port, database and environment)."""
    workdir = server.log_path.parent
    handle = server.log_path.open("ab")
    process = subprocess.Popen(server.args, stdout=handle, stderr=subprocess.STDOUT,
                               env=server.env, cwd=workdir)
    handle.close()
    again = ServerProcess(server.url, process, server.log_path, server.args, server.env)
    return _healthy(again, timeout)
