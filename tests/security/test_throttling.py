"""Throttling on a real server, in both modes: a bucket per account and operation class."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.security.support import (
    ADMIN,
    BOB,
    READER,
    User,
    client,
    error,
    personal,
    start_sigv4,
)
from tests.support.server import ServerProcess, start_server

pytestmark = pytest.mark.server

# One token per 100 seconds: a test never sees a bucket refill.
SLOW = {"INCIDENT_CONTACTS_THROTTLE_RATE": "0.01", "INCIDENT_CONTACTS_THROTTLE_BURST": "3"}


def _account() -> str:
    return "".join(random.choice("0123456789") for _ in range(12))


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("slow"), env=SLOW)
    yield server
    server.stop()


def exhaust(c: Any, n: int = 3) -> None:
    for _ in range(n):
        c.list_contacts()


def throttled(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    code, status, message = error(info)
    assert (code, status, message) == ("ThrottlingException", 429, "Rate exceeded")
    response: dict[str, Any] = info.value.response
    return response


def test_a_burst_beyond_the_bucket_is_throttled_with_a_retry_hint(
        slow_server: ServerProcess) -> None:
    account = _account()
    c = client(slow_server, account=account)
    exhaust(c)
    response = throttled(c.list_contacts)
    hint = response["RetryAfterSeconds"]
    assert 90 <= hint <= 100      # the time one token takes to come back, rounded up
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == str(hint)
    assert response["ServiceCode"] == "ssm-contacts"
    # The wire form: RetryAfterSeconds in the body and a Retry-After header.
    raw = httpx.post(slow_server.url, content=b"{}", timeout=10, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "SSMContacts.ListContacts",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20240101/us-east-1/"
                         "ssm-contacts/aws4_request, SignedHeaders=host, Signature=00",
    })
    assert raw.status_code == 429
    assert raw.headers["x-amzn-errortype"] == "ThrottlingException"
    body = orjson.loads(raw.content)
    assert body["__type"] == "ThrottlingException"
    assert 90 <= body["RetryAfterSeconds"] <= 100
    assert raw.headers["retry-after"] == str(body["RetryAfterSeconds"])


def test_buckets_are_per_account_and_operation_class(slow_server: ServerProcess) -> None:
    c = client(slow_server, account=_account())
    exhaust(c)
    throttled(c.list_contacts)
    throttled(lambda: c.get_contact(ContactId="arn:aws:ssm-contacts:us-east-1:"
                                              "000000000000:contact/x"))
    personal(c, "writes-have-their-own-bucket")
    exhaust(client(slow_server, account=_account()))   # another account: a full bucket


def test_sigv4_throttles_per_account(tmp_path: Path) -> None:
    server = start_sigv4(tmp_path, env=SLOW)
    try:
        exhaust(client(server, ADMIN))
        throttled(client(server, READER).list_contacts)  # same account, another user
        # A refused signature is refused before throttling, and takes no token.
        forged = client(server, User(BOB.key, "wrong", BOB.account, BOB.name))
        for _ in range(5):
            with pytest.raises(ClientError) as info:
                forged.list_contacts()
            assert error(info)[0] == "InvalidSignatureException"
        exhaust(client(server, BOB))                     # another account: a full bucket
    finally:
        server.stop()


def test_boto3_default_retries_absorb_a_burst(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_THROTTLE_RATE": "5",
                                         "INCIDENT_CONTACTS_THROTTLE_BURST": "2"})
    try:
        c = client(server, account=_account(), config=Config())  # boto3's default retries
        retries = 0
        for _ in range(12):
            response = c.list_contacts()
            retries += response["ResponseMetadata"]["RetryAttempts"]
        assert retries > 0   # the burst was throttled, and every call still succeeded
    finally:
        server.stop()
