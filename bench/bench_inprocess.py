"""The in-process mock: the time of one boto3 call, next to boto3's own floor and moto.

    python bench/bench_inprocess.py [--rounds 5] [--calls 2000]

Three boto3 clients make the same kind of call in a loop; each round times ``--calls`` calls
of each (in CPU time of this process, which a busy machine does not skew), taking the
clients in turn; the medians of the rounds (per call) are printed:

* boto3 floor         GetContactChannel answered by a ``before-send`` hook on the client
                      with a canned response (the body our mock answers): what boto3 itself
                      costs (serialising, signing, parsing), with no service behind it;
* mock                GetContactChannel with ``mock_ssm_contacts()`` active: the floor plus
                      the whole pipeline on an in-memory SQLite database;
* moto mock_aws       SSM GetParameter with moto's ``mock_aws`` active.

All clients are made after moto is imported and before any mock starts, so each carries the
same (idle) interception hooks. Target: mock at most 1.3 times the boto3 floor.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

CONFIG = Config(retries={"total_max_attempts": 1})


class _Body(io.BytesIO):
    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="123456789012",
                        aws_secret_access_key="secret", config=CONFIG)


def _timed(call: Callable[[], Any], calls: int) -> float:
    """CPU microseconds per call: this process's CPU time, which other processes on a busy
    machine do not inflate as they do the wall-clock time (every call runs on this thread)."""
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls * 1e6


def _make_channel(client: Any) -> str:
    contact = client.create_contact(Alias="akua", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    arn: str = client.create_contact_channel(
        ContactId=contact, Name="work mail", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "akua@example.com"}, DeferActivation=True,
    )["ContactChannelArn"]
    return arn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")

    from moto import mock_aws

    from incident_contacts.testing import mock_ssm_contacts

    with mock_ssm_contacts():   # registers the mock's hook before the clients exist
        pass
    floor_client, mock_client = _client("ssm-contacts"), _client("ssm-contacts")
    moto_client = _client("ssm")

    # The mock's answer to GetContactChannel becomes the floor's canned response.
    captured: dict[str, Any] = {}

    def capture(response_dict: dict[str, Any], **_kwargs: Any) -> None:
        captured.update(response_dict)

    with mock_ssm_contacts():
        channel = _make_channel(mock_client)
        mock_client.meta.events.register("before-parse.ssm-contacts.GetContactChannel",
                                         capture)
        expected = mock_client.get_contact_channel(ContactChannelId=channel)
        mock_client.meta.events.unregister("before-parse.ssm-contacts.GetContactChannel",
                                           capture)
    body, headers = captured["body"], dict(captured["headers"])

    def canned(request: Any, **_kwargs: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, headers, _Body(body))

    floor_client.meta.events.register("before-send.ssm-contacts", canned)
    got = floor_client.get_contact_channel(ContactChannelId=channel)
    assert got["DeliveryAddress"] == expected["DeliveryAddress"]

    # Each runner sets up what it needs in a fresh mock and times the calls; every hook
    # sees every request, so no mock is active while another client is timed.
    def floor() -> float:
        return _timed(lambda: floor_client.get_contact_channel(ContactChannelId=channel),
                      args.calls)

    def mock() -> float:
        with mock_ssm_contacts():
            arn = _make_channel(mock_client)
            return _timed(lambda: mock_client.get_contact_channel(ContactChannelId=arn),
                          args.calls)

    def moto() -> float:
        with mock_aws():
            moto_client.put_parameter(Name="/bench/p", Value="value", Type="String")
            return _timed(lambda: moto_client.get_parameter(Name="/bench/p"), args.calls)

    runners = {"boto3 floor": floor, "mock": mock, "moto mock_aws": moto}
    timings: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run()                   # warm-up
    for number in range(args.rounds):
        for name, run in runners.items():
            timings[name].append(run())
            print(f"  round {number + 1}/{args.rounds}  {name:<14} "
                  f"{timings[name][-1]:8.1f} us/call", flush=True)

    medians = {name: statistics.median(values) for name, values in timings.items()}
    print()
    print(f"{'':<16} {'CPU us/call':>11}   each round")
    for name, values in timings.items():
        print(f"{name:<16} {medians[name]:11.1f}   " + ", ".join(f"{v:.0f}" for v in values))
    ratio = medians["mock"] / medians["boto3 floor"]
    met = ratio <= 1.3
    print()
    print(f"mock / boto3 floor            {ratio:5.2f}   target <= 1.3: "
          f"{'met' if met else 'MISSED'}")
    print(f"moto mock_aws / boto3 floor   {medians['moto mock_aws'] / medians['boto3 floor']:5.2f}")
    print(f"mock / moto mock_aws          {medians['mock'] / medians['moto mock_aws']:5.2f}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
