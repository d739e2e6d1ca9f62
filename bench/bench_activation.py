"""SendActivationCode: throughput next to the floor and moto, and delivery latency.

    python bench/bench_activation.py [--rounds 3] [--seconds 5] [--connections 8]

1. Throughput. One run starts three servers (``common.py``): incident-contacts on SQLite,
   with the send limit lifted (``INCIDENT_CONTACTS_ACTIVATION_SEND_LIMIT=1000000``) and
   throttling off, its delivery worker sending every code through the development outbox
   while the load runs; the floor (a bare ASGI app answering ``{}`` on the same uvicorn
   stack); and ``moto_server`` answering SSM PutParameter. The requests cycle over 200
   channels of one contact (and moto's over 2,000 parameter names). Rounds interleave the
   three; the medians and their ratios are printed. Target: SendActivationCode at least 25%
   of the floor.
2. Latency. A second incident-contacts server delivers by SMTP to an aiosmtpd server in this
   process. At light load (one request at a time, ``--rate`` a second) a code's latency is
   the time from its acknowledged SendActivationCode (the response read by the client) to the
   SMTP server receiving the email: later than the hand-off to the transport, so an upper
   bound of it. The outbox's own record (``created_at`` to ``sent_at``) is printed beside.
   Target: p99 at most 100 ms.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

# Run as a script, this folder is on sys.path: the shared pieces are in common.py beside it.
from common import (
    ACCOUNT,
    LOOPBACK,
    Request,
    Server,
    aws_request,
    check,
    free_port,
    interleaved,
    load_arguments,
    moto_put_parameter_requests,
    percentile,
    start_floor,
    start_incident_contacts,
    start_moto,
    verdict,
)

NO_SEND_LIMIT = {"INCIDENT_CONTACTS_ACTIVATION_SEND_LIMIT": "1000000"}
CHANNELS = 200


def client_for(server: Server) -> Any:
    return boto3.client(
        "ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
        aws_access_key_id=ACCOUNT, aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def make_channels(server: Server, count: int, *, channel_type: str = "SMS",
                  address: Callable[[int], str] | None = None) -> list[str]:
    """``count`` channels with deferred activation (so creating them sends nothing)."""
    client = client_for(server)
    contact = client.create_contact(Alias="bench-" + uuid.uuid4().hex[:8], Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    return [
        client.create_contact_channel(
            ContactId=contact, Name=f"c{n}", Type=channel_type,
            DeliveryAddress={"SimpleAddress": address(n) if address else f"+1500555{n:04d}"},
            DeferActivation=True,
        )["ContactChannelArn"]
        for n in range(count)
    ]


def send_code_requests(arns: list[str]) -> list[Request]:
    return [aws_request("SSMContacts.SendActivationCode", {"ContactChannelId": arn})
            for arn in arns]


def outbox_by_status(server: Server) -> dict[str, int]:
    with sqlite3.connect(f"file:{server.workdir / 'bench.db'}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())


def throughput(rounds: int, seconds: float, connections: int, threads: int) -> dict[str, Any]:
    servers: list[Server] = []
    try:
        ours = start_incident_contacts(NO_SEND_LIMIT)
        servers.append(ours)
        floor = start_floor()
        servers.append(floor)
        moto = start_moto()
        servers.append(moto)
        sends = send_code_requests(make_channels(ours, CHANNELS))
        puts = moto_put_parameter_requests(2000)
        floor_requests = sends[:1]
        for url, request in ((ours.url, sends[0]), (moto.url, puts[0]),
                             (floor.url, floor_requests[0])):
            check(url, request)
        results = interleaved({
            "floor ({})": (floor.url, floor_requests),
            "SendActivationCode": (ours.url, sends),
            "moto PutParameter": (moto.url, puts),
        }, rounds=rounds, seconds=seconds, connections=connections, threads=threads)
        time.sleep(1.0)                      # let the worker finish what the load queued
        outbox = outbox_by_status(ours)
    finally:
        for server in servers:
            server.stop()
    print(results.table())
    return {"results": results, "outbox": outbox}


class _Sink:
    """aiosmtpd handler noting when each recipient's email arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrived[rcpt] = now
        return "250 OK"


def latency(samples: int, rate: float, warmup: int = 5) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    sink = _Sink()
    port = free_port()
    smtp = Controller(sink, hostname=LOOPBACK, port=port, server_hostname="bench.test")
    smtp.start()
    server = None
    try:
        server = start_incident_contacts({
            **NO_SEND_LIMIT,
            "INCIDENT_CONTACTS_SMTP_URL": f"smtp://{LOOPBACK}:{port}",
            "INCIDENT_CONTACTS_EMAIL_FROM": "bench@bench.test",
        })
        total = samples + warmup
        arns = make_channels(server, total, channel_type="EMAIL",
                             address=lambda n: f"c{n}@bench.test")
        acked: dict[str, float] = {}
        with httpx.Client(base_url=server.url) as http:
            for n, request in enumerate(send_code_requests(arns)):
                response = http.post("/", content=request.body, headers=request.headers)
                acked[f"c{n}@bench.test"] = time.perf_counter()
                response.raise_for_status()
                time.sleep(1.0 / rate)
        deadline = time.monotonic() + 30
        while len(sink.arrived) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        with sqlite3.connect(f"file:{server.workdir / 'bench.db'}?mode=ro", uri=True) as conn:
            recorded = [row[0] * 1000 for row in conn.execute(
                "SELECT sent_at - created_at FROM outbox WHERE status = 'SENT' ORDER BY id")]
    finally:
        if server is not None:
            server.stop()
        smtp.stop()
    # The first few include one-off costs (the first SMTP connection's name lookup).
    measured = [f"c{n}@bench.test" for n in range(warmup, total)]
    end_to_end = [(sink.arrived[r] - acked[r]) * 1000 for r in measured if r in sink.arrived]
    recorded = recorded[warmup:]
    return {
        "samples": len(end_to_end),
        "missing": len(measured) - len(end_to_end),
        "ack_to_smtp_ms": {"p50": percentile(end_to_end, 0.5),
                           "p99": percentile(end_to_end, 0.99),
                           "max": max(end_to_end, default=float("nan"))},
        "created_to_sent_ms": {"p50": percentile(recorded, 0.5),
                               "p99": percentile(recorded, 0.99),
                               "max": max(recorded, default=float("nan"))},
    }


def main() -> int:
    parser = load_arguments(__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="codes timed for latency")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="latency run: requests a second, one at a time")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    print("throughput:", flush=True)
    measured = throughput(args.rounds, args.seconds, args.connections, args.threads)
    results = measured["results"]
    floor_rps = results.rps("floor ({})")
    ours_rps = results.rps("SendActivationCode")
    moto_rps = results.rps("moto PutParameter")
    print(f"outbox after the load: {measured['outbox']}")
    ok_ratio = verdict("SendActivationCode / floor", ours_rps / floor_rps, 0.25)
    print(f"{'moto PutParameter / floor':<58} {moto_rps / floor_rps:6.2f}")
    print(f"{'SendActivationCode / moto PutParameter':<58} {ours_rps / moto_rps:6.2f}")

    print(f"latency at light load ({args.rate:g} requests/s, one at a time):", flush=True)
    lat = latency(args.samples, args.rate)
    e2e, rec = lat["ack_to_smtp_ms"], lat["created_to_sent_ms"]
    print(f"  acknowledged -> at the SMTP server: p50 {e2e['p50']:.1f} ms, "
          f"p99 {e2e['p99']:.1f} ms, max {e2e['max']:.1f} ms "
          f"({lat['samples']} codes, {lat['missing']} missing)")
    print(f"  outbox created_at -> sent_at:       p50 {rec['p50']:.1f} ms, "
          f"p99 {rec['p99']:.1f} ms, max {rec['max']:.1f} ms")
    ok_latency = verdict("p99 acknowledged -> at the SMTP server (ms)", e2e["p99"], 100,
                         at_most=True) and lat["missing"] == 0
    if args.json:
        args.json.write_text(json.dumps({
            "requests_per_second": {"floor": floor_rps, "SendActivationCode": ours_rps,
                                    "moto PutParameter": moto_rps},
            "ratio_to_floor": ours_rps / floor_rps,
            "outbox_after_load": measured["outbox"],
            "latency": lat,
        }, indent=2))
    return 0 if ok_ratio and ok_latency else 1


if __name__ == "__main__":
    sys.exit(main())
