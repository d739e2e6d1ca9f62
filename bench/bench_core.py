"""The API over HTTP: a read and a write next to the floor and to moto's SSM.

    python bench/bench_core.py [--rounds 3] [--seconds 5] [--connections 8]

Starts four servers on loopback: incident-contacts (one process, SQLite file, throttling
off), a second one with its read cache off, the floor (a bare ASGI app answering ``{}`` on the
same uvicorn stack and options) and ``moto_server``. Then, after a warm-up, each round loads
each of these in turn for ``--seconds`` with the same generator (wrk when installed):

* floor                      the floor, with a GetContactChannel body;
* GetContactChannel          one of 16 channels, as ``serve`` answers by default: a repeated
                             read comes from the read cache while nothing commits;
* GetContactChannel, uncached  the same with INCIDENT_CONTACTS_READ_CACHE=0, as every read is
                             answered when writes keep changing the database: the join to its
                             contact, the address opened with the data key, the output shaped
                             by the model (no target; printed to show what the cache is worth);
* UpdateContact              DisplayName of one of 16 contacts (a write: BEGIN IMMEDIATE, the
                             contact found, updated and committed in WAL mode);
* moto GetParameter          moto's SSM, one of 100 parameters;
* moto PutParameter          moto's SSM, overwriting one of 100 parameters.

Prints the medians of the rounds (requests per second, p50 and p99 latency, and the server's
CPU time per request, which a busy machine does not skew) and the ratios.
Targets: GetContactChannel at least 50% of the floor's requests per second, UpdateContact at
least 30%. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import sys
from typing import Any

import boto3
from botocore.config import Config
from common import (
    ACCOUNT,
    Request,
    Server,
    aws_request,
    check,
    interleaved,
    load_arguments,
    moto_put_parameter_requests,
    start_floor,
    start_incident_contacts,
    start_moto,
    verdict,
)

CHANNELS = 16
UNCACHED = "GetContactChannel, uncached"


def _client(service: str, server: Server) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id=ACCOUNT, aws_secret_access_key="secret",
                        config=Config(retries={"total_max_attempts": 1}))


def prepare_ours(server: Server) -> tuple[list[Request], list[Request]]:
    """16 contacts with one email channel each; GetContactChannel and UpdateContact bodies."""
    client = _client("ssm-contacts", server)
    reads, writes = [], []
    for n in range(CHANNELS):
        contact = client.create_contact(Alias=f"bench-{n:02d}", DisplayName=f"Bench {n}",
                                        Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        channel = client.create_contact_channel(
            ContactId=contact, Name="work mail", Type="EMAIL",
            DeliveryAddress={"SimpleAddress": f"bench{n}@example.com"}, DeferActivation=True,
        )["ContactChannelArn"]
        reads.append(aws_request("SSMContacts.GetContactChannel",
                                 {"ContactChannelId": channel}))
        for version in range(4):
            writes.append(aws_request("SSMContacts.UpdateContact",
                                      {"ContactId": contact,
                                       "DisplayName": f"Bench {n} v{version}"}))
    return reads, writes


def prepare_moto(server: Server) -> tuple[list[Request], list[Request]]:
    client = _client("ssm", server)
    puts = moto_put_parameter_requests(100)
    for n in range(100):
        client.put_parameter(Name=f"/bench/p{n}", Value=f"value {n}", Type="String",
                             Overwrite=True)
    gets = [aws_request("AmazonSSM.GetParameter", {"Name": f"/bench/p{n}"}, service="ssm")
            for n in range(100)]
    return gets, puts


def main() -> int:
    parser = load_arguments(__doc__.strip().splitlines()[0])
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")
    servers: list[Server] = []
    try:
        ours = start_incident_contacts()
        servers.append(ours)
        uncached = start_incident_contacts({"INCIDENT_CONTACTS_READ_CACHE": "0"})
        servers.append(uncached)
        floor = start_floor()
        servers.append(floor)
        moto = start_moto()
        servers.append(moto)
        reads, writes = prepare_ours(ours)
        uncached_reads, _ = prepare_ours(uncached)
        gets, puts = prepare_moto(moto)
        work = {
            "floor": (floor.url, reads),
            "GetContactChannel": (ours.url, reads),
            UNCACHED: (uncached.url, uncached_reads),
            "UpdateContact": (ours.url, writes),
            "moto GetParameter": (moto.url, gets),
            "moto PutParameter": (moto.url, puts),
        }
        for url, requests in work.values():
            check(url, requests[0])
        print(f"load: {args.connections} connections, {args.seconds:g} s per run, "
              f"{args.rounds} rounds", flush=True)
        pids = {"floor": floor.process.pid, "GetContactChannel": ours.process.pid,
                UNCACHED: uncached.process.pid,
                "UpdateContact": ours.process.pid, "moto GetParameter": moto.process.pid,
                "moto PutParameter": moto.process.pid}
        results = interleaved(work, rounds=args.rounds, seconds=args.seconds,
                              connections=args.connections, threads=args.threads, pids=pids)
    finally:
        for server in reversed(servers):
            server.stop()

    print()
    print("medians of the rounds:")
    print(results.table())
    print()
    floor_rps = results.rps("floor")
    met = [
        verdict("GetContactChannel / floor (req/s)", results.rps("GetContactChannel") / floor_rps,
                0.5),
        verdict("UpdateContact / floor (req/s)", results.rps("UpdateContact") / floor_rps, 0.3),
    ]
    print(f"{UNCACHED + ' / floor (req/s)':<58} {results.rps(UNCACHED) / floor_rps:6.2f}   "
          "no target: every read answered afresh")
    floor_cpu = results.cpu_us("floor")
    for name in ("GetContactChannel", UNCACHED, "UpdateContact"):
        cpu = results.cpu_us(name)
        if floor_cpu is not None and cpu is not None:
            print(f"{'floor / ' + name + ' (CPU per request)':<58} {floor_cpu / cpu:6.2f}   "
                  "what req/s would give with a core to itself")
    print(f"{'GetContactChannel / moto GetParameter (req/s)':<58} "
          f"{results.rps('GetContactChannel') / results.rps('moto GetParameter'):6.2f}")
    print(f"{'UpdateContact / moto PutParameter (req/s)':<58} "
          f"{results.rps('UpdateContact') / results.rps('moto PutParameter'):6.2f}")
    errors = sum(results.errors(name) for name in results.runs)
    if errors:
        print(f"{errors} requests failed: the figures above are not to be trusted")
    return 0 if all(met) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
