"""GetContactChannel with ``--auth sigv4`` against the same with ``--auth off``, in one run.

    python bench/bench_auth.py [--rounds 3] [--seconds 5] [--connections 8] [--threads 1]

Two servers on fresh SQLite files, identical but for the mode: the development mode, and
SigV4 with a credentials file. Both run every guard, so throttling is on with a rate no load
reaches (the bucket is still taken per request) and authorization runs; the difference is the
signature check alone. Each server holds one contact with one channel. A second pair with the
read cache off shows the signature's cost against a read answered afresh (no target).

The load generator is ``bench/common`` (wrk when installed, else Python threads on keep-alive
connections). For SigV4 the request is signed by botocore's ``SigV4Auth`` just before the run
and sent for its whole length, inside the 15 minutes a signature stays valid: the server keeps
no memory of signatures, so it verifies each request (checks the date, hashes the body,
completes and hashes the canonical request, computes the signature and compares); per
client it keeps what the header fixes up to its signature (the checked scope, the signing
key, the HMAC state of the date's string to sign). The
development-mode request carries the unverified header of the same shape. Rounds alternate
between the servers, so both see the same machine; medians and their ratio are printed,
with each server's CPU time per request (which a busy machine does not skew) and its ratio.
Target: SigV4 at most 15% slower (ratio at least 0.85).

A micro-benchmark of ``auth.sigv4.verify`` alone (in this process) is printed beside.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

# Run as a script, this folder is on sys.path: the shared pieces are in common.py beside it.
from common import (
    Request,
    Server,
    aws_request,
    check,
    interleaved,
    load_arguments,
    start_incident_contacts,
    verdict,
)

ACCOUNT = "123456789012"
KEY_ID = "AKIABENCHMARKAUTH001"
SECRET = "bench-secret-access-key"
REGION = "us-east-1"
OPERATION = "SSMContacts.GetContactChannel"
# Throttling stays on (taking a token is part of every request) at a rate no load reaches.
UNLIMITED = {"INCIDENT_CONTACTS_THROTTLE_RATE": "1000000000",
             "INCIDENT_CONTACTS_THROTTLE_BURST": "1000000000"}
SIGNATURE_LIFETIME = 15 * 60


def credentials_file(directory: Path) -> Path:
    path = directory / "credentials.toml"
    path.write_text(
        "[[credentials]]\n"
        f'access_key_id = "{KEY_ID}"\nsecret_access_key = "{SECRET}"\n'
        f'account_id = "{ACCOUNT}"\nuser = "bench"\n'
    )
    path.chmod(0o600)
    return path


def start_mode(mode: str, workdir: Path, cache: bool = True) -> Server:
    workdir.mkdir()
    env = {**UNLIMITED, "INCIDENT_CONTACTS_AUTH": mode}
    if not cache:
        env["INCIDENT_CONTACTS_READ_CACHE"] = "0"
    if mode == "sigv4":
        env["INCIDENT_CONTACTS_CREDENTIALS"] = str(credentials_file(workdir))
    return start_incident_contacts(env, workdir=workdir)


def make_channel(service: Server, key: str, secret: str) -> str:
    client = boto3.client("ssm-contacts", region_name=REGION, endpoint_url=service.url,
                          aws_access_key_id=key, aws_secret_access_key=secret,
                          config=Config(retries={"total_max_attempts": 1}))
    contact = client.create_contact(Alias="bench-" + uuid.uuid4().hex[:8], Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    arn: str = client.create_contact_channel(
        ContactId=contact, Name="phone", Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15005550199"}, DeferActivation=True,
    )["ContactChannelArn"]
    return arn


def signed_request(service: Server, body: bytes) -> Request:
    """GetContactChannel signed now by botocore for ``service``'s host (the load generator
    sends the ``Host`` header the signature covers)."""
    request = AWSRequest(method="POST", url=service.url + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1",
                                  "X-Amz-Target": OPERATION})
    SigV4Auth(Credentials(KEY_ID, SECRET), "ssm-contacts", REGION).add_auth(request)
    return Request({k: v for k, v in request.headers.items() if k.lower() != "host"}, body)


def verify_cost(iterations: int = 5000) -> float:
    """Microseconds per ``auth.sigv4.verify`` of a signed GetContactChannel, in-process."""
    from incident_contacts.auth.credentials import CredentialStore, Principal
    from incident_contacts.auth.sigv4 import verify

    store = CredentialStore([Principal(KEY_ID, SECRET, ACCOUNT, "bench")])
    body = b'{"ContactChannelId": "arn:aws:ssm-contacts:us-east-1:123456789012:x/y/z"}'
    request = AWSRequest(method="POST", url="http://127.0.0.1:4575/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1",
                                  "X-Amz-Target": OPERATION})
    SigV4Auth(Credentials(KEY_ID, SECRET), "ssm-contacts", REGION).add_auth(request)
    headers = {"host": "127.0.0.1:4575", **{k.lower(): v for k, v in request.headers.items()}}
    now = time.time()
    started = time.perf_counter()
    for _ in range(iterations):
        verify("POST", "/", headers, body, now, store)
    return (time.perf_counter() - started) / iterations * 1e6


def main() -> None:
    parser = load_arguments(__doc__.split("\n")[0])
    args = parser.parse_args()
    expected = (args.rounds * 4 + 4) * args.seconds
    if expected > SIGNATURE_LIFETIME - 120:
        parser.error(f"{expected:.0f}s of load outlasts a signature's 15 minutes")
    with tempfile.TemporaryDirectory(prefix="incident-contacts-bench-auth-") as tmp:
        servers: dict[str, Server] = {}
        try:
            for cache in (True, False):
                for mode in ("off", "sigv4"):
                    name = _name(mode, cache)
                    servers[name] = start_mode(mode, Path(tmp) / name.replace(" ", "-"), cache)
            work: dict[str, tuple[str, list[Request]]] = {}
            for name, server in servers.items():
                if "sigv4" in name:
                    body = json.dumps({"ContactChannelId": make_channel(server, KEY_ID, SECRET)})
                    request = signed_request(server, body.encode())
                else:
                    request = aws_request(OPERATION,
                                          {"ContactChannelId": make_channel(server, ACCOUNT, "x")},
                                          account=ACCOUNT)
                answer = check(server.url, request)
                assert answer["DeliveryAddress"] == {"SimpleAddress": "+15005550199"}
                work[name] = (server.url, [request])
            pids = {name: server.process.pid for name, server in servers.items()}
            rounds = interleaved(work, rounds=args.rounds, seconds=args.seconds,
                                 connections=args.connections, threads=args.threads, pids=pids)
        finally:
            for server in servers.values():
                server.stop()
    print(rounds.table())
    off_rps = rounds.rps(_name("off", True))
    sigv4_rps = rounds.rps(_name("sigv4", True))
    verdict("sigv4 / off throughput (medians)", sigv4_rps / off_rps, 0.85)
    print(f"SigV4 costs {100 * (1 - sigv4_rps / off_rps):.1f}% of the throughput "
          "(target: at most 15%)")
    off_cpu, sigv4_cpu = rounds.cpu_us(_name("off", True)), rounds.cpu_us(_name("sigv4", True))
    if off_cpu is not None and sigv4_cpu is not None:
        print(f"{'off / sigv4 (server CPU per request)':<58} {off_cpu / sigv4_cpu:6.2f}   "
              "what req/s would give with a core to itself")
    uncached = rounds.rps(_name("sigv4", False)) / rounds.rps(_name("off", False))
    print(f"{'the same with the read cache off (no target)':<58} {uncached:6.2f}")
    print(f"verify() alone, in-process: {verify_cost():.0f} us per request")


def _name(mode: str, cache: bool) -> str:
    return f"GetContactChannel --auth {mode}" if cache else f"--auth {mode}, read cache off"


if __name__ == "__main__":
    main()
