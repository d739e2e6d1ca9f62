"""ListRotationShifts: the cost of a window does not depend on the rotation's age.

    python bench/bench_shifts.py [--rounds 15] [--calls 20]

In process, through the same Dispatcher the server uses (no HTTP, no boto3 on the timed
path), on an in-memory database. Two 30-member daily rotations (hand-off 09:00 in
America/Los_Angeles, so the window crosses whatever DST change is near) differ only in their
start: ten years ago and yesterday. Each round times ``--calls`` ListRotationShifts calls
for the next 30 days on each rotation, alternating which goes first; the medians of the rounds
(per call) and their ratio are printed. Target: old / new at most 1.5.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import boto3

from incident_contacts.testing import mock_ssm_contacts

ACCOUNT = "123456789012"
DAY = 86400.0
HEADERS = {
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": "SSMContacts.ListRotationShifts",
    "authorization": (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20240101/us-east-1/ssm-contacts/"
                      "aws4_request, SignedHeaders=host, Signature=" + "0" * 64),
}


def make_rotation(client: Any, members: list[str], start: float, name: str) -> str:
    arn: str = client.create_rotation(
        Name=name, ContactIds=members, TimeZoneId="America/Los_Angeles", StartTime=start,
        Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                    "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]},
    )["RotationArn"]
    return arn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()

    with mock_ssm_contacts() as mock:
        client = boto3.client("ssm-contacts", region_name="us-east-1",
                              aws_access_key_id=ACCOUNT, aws_secret_access_key="secret")
        members = [client.create_contact(Alias=f"member-{n:02d}", Type="PERSONAL",
                                         Plan={"Stages": []})["ContactArn"] for n in range(30)]
        now = mock.clock.now()
        rotations = {
            "started 10 years ago": make_rotation(client, members, now - 3652 * DAY, "old"),
            "started yesterday": make_rotation(client, members, now - DAY, "new"),
        }
        bodies = {
            label: json.dumps({"RotationId": arn, "StartTime": now,
                               "EndTime": now + 30 * DAY}).encode()
            for label, arn in rotations.items()
        }
        dispatcher = mock.dispatcher
        assert dispatcher is not None

        def run(label: str) -> float:
            began = time.perf_counter()
            for _ in range(args.calls):
                response = dispatcher.handle("POST", "/", HEADERS, bodies[label])
                assert response.status == 200, response.body
            return (time.perf_counter() - began) / args.calls

        counts = {}
        for label in bodies:   # warm up, and check both answer a month of shifts
            run(label)
            response = dispatcher.handle("POST", "/", HEADERS, bodies[label])
            counts[label] = len(json.loads(response.body)["RotationShifts"])
        samples: dict[str, list[float]] = {label: [] for label in bodies}
        order = list(bodies)
        for round_number in range(args.rounds):
            for label in order if round_number % 2 == 0 else reversed(order):
                samples[label].append(run(label))

    medians = {label: statistics.median(values) for label, values in samples.items()}
    print(f"ListRotationShifts, next 30 days, 30-member daily rotation "
          f"({args.rounds} rounds x {args.calls} calls, median per call)")
    for label, value in medians.items():
        print(f"  {label:22s} {value * 1000:8.3f} ms   ({counts[label]} shifts)")
    ratio = medians["started 10 years ago"] / medians["started yesterday"]
    verdict = "ok" if ratio <= 1.5 else "OVER TARGET"
    print(f"  ratio old / new        {ratio:8.3f}      (target <= 1.5: {verdict})")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
