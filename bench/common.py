"""What the benchmarks share: servers on loopback, a load generator, and the arithmetic.

Run as scripts (``python bench/bench_core.py``), the benchmarks find this module beside them.

Servers, each a subprocess on a free port of 127.0.0.1 in a temporary folder of its own,
stopped (and the folder removed) by the benchmark that started it:

* :func:`start_incident_contacts`: ``incident-contacts serve`` on a SQLite file, one process;
* :func:`start_floor`: a bare ASGI app answering ``{}`` to everything, on the same uvicorn
  stack and options as ``serve`` (``python bench/common.py floor --port N``): what any Python
  service on this stack costs at the least;
* :func:`start_moto`: moto's server (``moto_server``; the ``bench`` extra,
  ``pip install -e '.[bench]'``).

Load (:func:`load`) comes from ``wrk`` (Debian package ``wrk``; C, one thread, so it leaves
the second core to the server) with a Lua script that cycles through the given requests and
prints a JSON summary; without ``wrk``, from Python threads with one keep-alive connection
each, which share the CPU and the GIL with nothing of the server's but are slower than wrk, so
their figures are lower bounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

LOOPBACK = "127.0.0.1"
CONTENT_TYPE = "application/x-amz-json-1.1"
ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def sigv4_header(account: str = ACCOUNT, service: str = "ssm-contacts",
                 region: str = "us-east-1") -> str:
    """A SigV4-shaped ``Authorization``: the servers read the account and region from its
    scope and, in their development modes, check no signature."""
    return (f"AWS4-HMAC-SHA256 Credential={account}/20240101/{region}/{service}/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64)


@dataclass(frozen=True)
class Request:
    """One ``POST /`` with its headers and body."""

    headers: dict[str, str]
    body: bytes


def aws_request(target: str, params: dict[str, Any], *, account: str = ACCOUNT,
                service: str = "ssm-contacts") -> Request:
    """An AWS JSON 1.1 request, e.g. ``aws_request("SSMContacts.GetContact", {...})``."""
    return Request({"Content-Type": CONTENT_TYPE, "X-Amz-Target": target,
                    "Authorization": sigv4_header(account, service)},
                   json.dumps(params).encode())


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    _cleanup: tempfile.TemporaryDirectory[str] | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        if self._cleanup is not None:
            self._cleanup.cleanup()
            self._cleanup = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _start(name: str, command: list[str], port: int, ready: Callable[[str], bool], *,
           workdir: Path | None = None, env: dict[str, str] | None = None,
           timeout: float = 60.0) -> Server:
    cleanup = None
    if workdir is None:
        cleanup = tempfile.TemporaryDirectory(prefix=f"incident-contacts-bench-{name}-")
        workdir = Path(cleanup.name)
    log_path = workdir / f"{name}-{port}.log"
    with log_path.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                   cwd=workdir, env={**os.environ, **(env or {})})
    server = Server(name, f"http://{LOOPBACK}:{port}", process, workdir, log_path, cleanup)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = server.log()
            server.stop()
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")
        try:
            if ready(server.url):
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    log = server.log()
    server.stop()
    raise RuntimeError(f"{name} did not start in {timeout}s:\n{log}")


def start_incident_contacts(env: dict[str, str] | None = None, *, database: str | None = None,
                            workdir: Path | None = None) -> Server:
    """``incident-contacts serve`` (one process) on ``workdir/bench.db`` unless ``database``
    says otherwise, with throttling off unless ``env`` turns it on."""
    port = free_port()
    server_env = {"INCIDENT_CONTACTS_THROTTLE_RATE": "0", **(env or {})}
    command = [sys.executable, "-m", "incident_contacts", "serve", "--host", LOOPBACK,
               "--port", str(port), "--log-level", "warning"]
    if database is not None:
        command += ["--database", database]
    else:
        command += ["--database", "sqlite:///bench.db"]   # relative to the server's cwd
    return _start("incident-contacts", command, port,
                  lambda url: httpx.get(f"{url}/_aws/ssm-contacts/health", timeout=1)
                  .status_code == 200,
                  workdir=workdir, env=server_env)


def start_floor(workdir: Path | None = None) -> Server:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "floor", "--port", str(port)]
    return _start("floor", command, port,
                  lambda url: httpx.post(url, content=b"{}", timeout=1).status_code == 200,
                  workdir=workdir)


def start_moto(workdir: Path | None = None) -> Server:
    port = free_port()
    moto = shutil.which("moto_server")
    command = [moto] if moto else [sys.executable, "-m", "moto.server"]
    command += ["-H", LOOPBACK, "-p", str(port)]
    return _start("moto", command, port,
                  lambda url: httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500,
                  workdir=workdir)


def moto_put_parameter_requests(count: int, account: str = ACCOUNT) -> list[Request]:
    """SSM PutParameter requests for moto, ``count`` different names, overwriting."""
    return [aws_request("AmazonSSM.PutParameter",
                        {"Name": f"/bench/p{n}", "Value": f"value {n}", "Type": "String",
                         "Overwrite": True}, account=account, service="ssm")
            for n in range(count)]


# -- the floor ---------------------------------------------------------------------------------


async def floor_app(scope: dict[str, Any], receive: Callable[[], Any],
                    send: Callable[[dict[str, Any]], Any]) -> None:
    """Reads the request body and answers ``{}``, as cheaply as an ASGI app can."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE.encode()),
                            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                            (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def _serve_floor(port: int) -> None:
    import uvicorn

    # The options of ``incident-contacts serve`` (cli.py), at the benchmarks' log level.
    uvicorn.run(floor_app, host=LOOPBACK, port=port, log_level="warning",
                access_log=False, lifespan="on")


# -- load -------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int           # connection errors and non-2xx answers
    p50_ms: float
    p99_ms: float
    tool: str
    cpu_seconds: float | None = None    # the server's CPU time during the run, when known

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process (Linux ``/proc``), or None where unknown.

    On a shared machine the requests per second follow the CPU share a server gets; the CPU
    time per request does not, so it is printed beside them."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def _wrk_script(requests: Sequence[Request]) -> str:
    lines = ["local requests = {}", "local n = 0", "local statuses = 0",
             "init = function(args)"]
    for request in requests:
        headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}"
                            for k, v in request.headers.items())
        lines.append(f'  requests[#requests + 1] = wrk.format("POST", "/", {{{headers}}}, '
                     f"{_lua_string(request.body.decode())})")
    lines.append("end")
    lines.append("""
request = function()
  n = n % #requests + 1
  return requests[n]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
""")
    return "\n".join(lines)


def _load_wrk(url: str, requests: Sequence[Request], seconds: float, connections: int,
              threads: int) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(requests))
    try:
        done = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(max(connections, threads)),
             "-d", f"{seconds:g}s", "--timeout", "10s", "-s", script.name, url],
            capture_output=True, text=True, timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    data = json.loads(line[len("RESULT "):])
    return LoadResult(data["requests"], data["duration_us"] / 1e6, data["errors"],
                      data["p50_us"] / 1000, data["p99_us"] / 1000, "wrk")


def _load_python(url: str, requests: Sequence[Request], seconds: float,
                 connections: int) -> LoadResult:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    stop_at = time.perf_counter() + seconds

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        mine = latencies[index]
        n = index
        while (start := time.perf_counter()) < stop_at:
            request = requests[n % len(requests)]
            n += connections
            try:
                connection.request("POST", "/", body=request.body, headers=request.headers)
                response = connection.getresponse()
                response.read()
            except OSError:
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=10)
                continue
            mine.append(time.perf_counter() - start)
            if not 200 <= response.status < 300:
                errors[index] += 1
        connection.close()

    began = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [x * 1000 for xs in latencies for x in xs]
    return LoadResult(len(every), elapsed, sum(errors), percentile(every, 0.5),
                      percentile(every, 0.99), "python")


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def load(url: str, requests: Sequence[Request], *, seconds: float, connections: int,
         threads: int = 1) -> LoadResult:
    """Keep ``connections`` requests in flight for ``seconds``, cycling through
    ``requests``."""
    if not requests:
        raise ValueError("no requests to send")
    if wrk_available():
        return _load_wrk(url, requests, seconds, connections, threads)
    return _load_python(url, requests, seconds, connections)


def check(url: str, request: Request) -> dict[str, Any]:
    """Send a request once; it must succeed (a benchmark of errors measures nothing)."""
    response = httpx.post(url, content=request.body, headers=request.headers, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


# -- arithmetic and reporting -------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 < q <= 1) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Rounds:
    """Load results by name, one per round."""

    runs: dict[str, list[LoadResult]] = field(default_factory=dict)

    def add(self, name: str, result: LoadResult) -> None:
        self.runs.setdefault(name, []).append(result)

    def rps(self, name: str) -> float:
        return median([r.requests_per_second for r in self.runs[name]])

    def p50(self, name: str) -> float:
        return median([r.p50_ms for r in self.runs[name]])

    def p99(self, name: str) -> float:
        return median([r.p99_ms for r in self.runs[name]])

    def errors(self, name: str) -> int:
        return sum(r.errors for r in self.runs[name])

    def cpu_us(self, name: str) -> float | None:
        """Median server CPU microseconds per request, when the server's process is known."""
        values = [r.cpu_us_per_request for r in self.runs[name]]
        known = [v for v in values if v is not None]
        return median(known) if known and len(known) == len(values) else None

    def table(self) -> str:
        rows = [f"{'':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}   "
                "each round (req/s)"]
        for name, runs in self.runs.items():
            each = ", ".join(f"{r.requests_per_second:.0f}" for r in runs)
            errors = self.errors(name)
            note = f"   {errors} ERRORS" if errors else ""
            cpu = self.cpu_us(name)
            shown = f"{cpu:11.0f}" if cpu is not None else f"{'-':>11}"
            rows.append(f"{name:<34} {self.rps(name):>8.0f} {self.p50(name):>8.2f} "
                        f"{self.p99(name):>8.2f} {shown}   {each}{note}")
        return "\n".join(rows)


def interleaved(work: Mapping[str, tuple[str, Sequence[Request]]], *, rounds: int, seconds: float,
                connections: int, threads: int = 1, warmup: float = 1.0,
                pids: Mapping[str, int] | None = None) -> Rounds:
    """``work`` maps a name to (url, requests). One short warm-up run each, then rounds that
    take every name in turn, so a noisy neighbour on the machine spreads over all of them.
    ``pids`` (name -> the serving process) adds the server's CPU time per request."""
    for url, requests in work.values():
        load(url, requests, seconds=warmup, connections=connections, threads=threads)
    results = Rounds()
    for number in range(rounds):
        for name, (url, requests) in work.items():
            pid = (pids or {}).get(name)
            before = cpu_seconds(pid) if pid is not None else None
            result = load(url, requests, seconds=seconds, connections=connections,
                          threads=threads)
            after = cpu_seconds(pid) if pid is not None else None
            if before is not None and after is not None:
                result.cpu_seconds = after - before
            results.add(name, result)
            print(f"  round {number + 1}/{rounds}  {name:<34} "
                  f"{result.requests_per_second:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                  f"p99 {result.p99_ms:6.2f} ms  ({result.errors} errors, {result.tool})",
                  flush=True)
    return results


def verdict(label: str, value: float, target: float, *, at_most: bool = False) -> bool:
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    print(f"{label:<58} {value:6.2f}   target {sign} {target:g}: {'met' if met else 'MISSED'}")
    return met


def load_arguments(description: str, *, connections: int = 8) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per target (at least 3)")
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="benchmark helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    floor = sub.add_parser("floor", help="serve the floor app (used by start_floor)")
    floor.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "floor":
        _serve_floor(args.port)


if __name__ == "__main__":
    main()
