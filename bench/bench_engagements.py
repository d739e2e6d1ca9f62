"""Engagements: how fast a burst of StartEngagement becomes pages handed to a transport.

    python bench/bench_engagements.py [--engagements 1000] [--rounds 3] [--seconds 5]
                                      [--database postgresql://...]

One incident-contacts server (``common.py``; SQLite unless ``--database``; throttling off,
activation send limit lifted) with 50 PERSONAL contacts, each an activated SMS channel in a
one-stage plan. Each round:

1. SendActivationCode load for ``--seconds`` (``common.load``: wrk, or Python threads), cycling
   over the 50 channels: its requests per second are the yardstick. The activation messages
   are then left to drain.
2. ``--engagements`` StartEngagement calls at once (16 connections, each engagement on one of
   the 50 contacts). Measured from the first request: when the last call was answered, and
   when the last first-stage page was handed to a transport (its outbox row ``SENT``, read
   from the database). Pages per second at steady state: the middle 80% of the pages by the
   time they were sent, divided by the time they took.

Target: pages per second at steady state at least 50% of SendActivationCode's requests per
second in the same run (medians over the rounds).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import sqlalchemy as sa
from botocore.config import Config

# Run as a script, this folder is on sys.path: the shared pieces are in common.py beside it.
from common import (
    ACCOUNT,
    Server,
    aws_request,
    load,
    median,
    percentile,
    start_incident_contacts,
    verdict,
)

from incident_contacts.store.db import normalise_url

CONTACTS = 50
CONNECTIONS = 16


def client_for(server: Server) -> Any:
    return boto3.client(
        "ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
        aws_access_key_id=ACCOUNT, aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=CONNECTIONS),
    )


def setup(server: Server) -> tuple[list[str], list[str]]:
    """50 contacts, each an activated SMS channel in a one-stage plan."""
    client = client_for(server)
    contacts, channels = [], []
    for n in range(CONTACTS):
        contact = client.create_contact(Alias=f"person-{n}", Type="PERSONAL",
                                        Plan={"Stages": []})["ContactArn"]
        channel = client.create_contact_channel(
            ContactId=contact, Name="phone", Type="SMS",
            DeliveryAddress={"SimpleAddress": f"+1500555{n:04d}"})["ContactChannelArn"]
        [message] = json.loads(
            http_get(server, "/_aws/ssm-contacts/messages?ContactChannelArn=" + channel)
        )["messages"]
        client.activate_contact_channel(ContactChannelId=channel,
                                        ActivationCode=message["ActivationCode"])
        client.update_contact(ContactId=contact, Plan={"Stages": [{
            "DurationInMinutes": 5,
            "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}]})
        contacts.append(contact)
        channels.append(channel)
    return contacts, channels


def http_get(server: Server, path: str) -> str:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", path)
    body = connection.getresponse().read().decode()
    connection.close()
    return body


def wait_drained(db: sa.Engine, timeout: float = 300.0) -> None:
    """Until the outbox has nothing pending (the activation codes of step 1 are out)."""
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT count(*) FROM outbox WHERE status = 'PENDING'")
    while True:
        with db.connect() as conn:
            if conn.execute(query).scalar() == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the outbox did not drain")
        time.sleep(0.2)


def burst(server: Server, contacts: list[str], count: int) -> tuple[float, list[str]]:
    """``count`` StartEngagement calls from CONNECTIONS threads, each with a keep-alive
    connection; returns (seconds until the last answer, engagement ARNs)."""
    host, port = server.url.removeprefix("http://").split(":")
    requests = [aws_request("SSMContacts.StartEngagement", {
        "ContactId": contacts[n % len(contacts)], "Sender": "bench", "Subject": "Load test",
        "Content": f"Engagement {n}", "IdempotencyToken": f"bench-{time.time_ns()}-{n}"})
        for n in range(count)]
    lock = threading.Lock()
    queue = list(range(count))
    arns: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop()
            request = requests[index]
            connection.request("POST", "/", body=request.body, headers=request.headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"StartEngagement: {response.status} {body!r}")
            with lock:
                arns.append(json.loads(body)["EngagementArn"])
        connection.close()

    began = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for future in [pool.submit(worker) for _ in range(CONNECTIONS)]:
            future.result()
    return time.perf_counter() - began, arns


def sent_times(db: sa.Engine, arns: list[str]) -> list[float] | None:
    """When each engagement's page went out (``pages.sent_time`` is written in the
    transaction that marks its outbox message SENT); None until all have."""
    ids = [arn.rsplit("/", 1)[1] for arn in arns]
    query = sa.text(
        "SELECT p.sent_time FROM pages p JOIN engagements e ON e.id = p.engagement_pk "
        "WHERE e.engagement_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with db.connect() as conn:
        rows = conn.execute(query, {"ids": ids}).all()
    if len(rows) < len(arns) or any(at is None for (at,) in rows):
        return None
    return sorted(float(at) for (at,) in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engagements", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8,
                        help="connections of the SendActivationCode load")
    parser.add_argument("--database", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()

    env = {"INCIDENT_CONTACTS_ACTIVATION_SEND_LIMIT": "1000000"}
    if args.database:
        env["INCIDENT_CONTACTS_DATA_KEY"] = base64.b64encode(os.urandom(32)).decode()
    server = start_incident_contacts(env, database=args.database)
    url = args.database or f"sqlite:///{Path(server.workdir) / 'bench.db'}"
    db = sa.create_engine(normalise_url(url))
    try:
        contacts, channels = setup(server)
        wait_drained(db)
        activation = [aws_request("SSMContacts.SendActivationCode", {"ContactChannelId": c})
                      for c in channels]
        load(server.url, activation, seconds=1.0, connections=args.connections)  # warm-up
        wait_drained(db)
        rows = []
        for number in range(args.rounds):
            result = load(server.url, activation, seconds=args.seconds,
                          connections=args.connections)
            wait_drained(db)
            began = time.time()
            answered, arns = burst(server, contacts, args.engagements)
            deadline = time.monotonic() + 600
            while (times := sent_times(db, arns)) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the pages were not all sent in 10 minutes")
                time.sleep(0.05)
            all_sent = times[-1] - began
            first_sent = times[0] - began
            low, high = percentile(times, 0.1), percentile(times, 0.9)
            middle = [t for t in times if low <= t <= high]
            steady = (len(middle) - 1) / (high - low) if high > low else float("inf")
            overall = len(times) / all_sent
            rows.append((result.requests_per_second, answered, all_sent, steady, overall))
            print(f"  round {number + 1}/{args.rounds}: SendActivationCode "
                  f"{result.requests_per_second:7.0f} req/s ({result.errors} errors, "
                  f"{result.tool}) | {args.engagements} StartEngagement answered in "
                  f"{answered:5.2f} s; pages handed to a transport from {first_sent:5.2f} s "
                  f"to {all_sent:5.2f} s ({overall:5.0f}/s overall, {steady:5.0f}/s steady)",
                  flush=True)
        activation_rps = median([r[0] for r in rows])
        pages_per_second = median([r[3] for r in rows])
        print()
        print(f"SendActivationCode                      {activation_rps:8.0f} req/s")
        print(f"StartEngagement burst answered in       {median([r[1] for r in rows]):8.2f} s")
        print(f"every first-stage page handed over in   {median([r[2] for r in rows]):8.2f} s")
        print(f"pages per second, burst start to last   {median([r[4] for r in rows]):8.0f}")
        print(f"pages per second at steady state        {pages_per_second:8.0f}")
        verdict("pages/s at steady state / SendActivationCode req/s",
                pages_per_second / activation_rps, 0.5)
    finally:
        db.dispose()
        server.stop()


if __name__ == "__main__":
    main()
