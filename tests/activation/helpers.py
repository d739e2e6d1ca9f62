"""Small steps the activation tests share."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

PHONE = "+15005550199"
OTHER_PHONE = "+15005550142"
EMAIL = "akua@example.com"


def new_contact(client: Any) -> str:
    alias = "c-" + uuid.uuid4().hex[:12]
    arn: str = client.create_contact(Alias=alias, Type="PERSONAL",
                                     Plan={"Stages": []})["ContactArn"]
    return arn


def new_channel(client: Any, *, type: str = "SMS", address: str = PHONE, defer: bool = False,
                contact: str | None = None, name: str = "phone") -> str:
    params: dict[str, Any] = {
        "ContactId": contact or new_contact(client),
        "Name": name,
        "Type": type,
        "DeliveryAddress": {"SimpleAddress": address},
    }
    if defer:
        params["DeferActivation"] = True
    arn: str = client.create_contact_channel(**params)["ContactChannelArn"]
    return arn


def activation_messages(backend: Any, arn: str) -> list[dict[str, Any]]:
    return [m for m in backend.messages(arn) if m["Purpose"] == "ACTIVATION"]


def codes(backend: Any, arn: str) -> list[str]:
    return [m["ActivationCode"] for m in activation_messages(backend, arn)]


def latest_code(backend: Any, arn: str) -> str:
    return codes(backend, arn)[-1]


def status(client: Any, arn: str) -> str:
    value: str = client.get_contact_channel(ContactChannelId=arn)["ActivationStatus"]
    return value


def other_code(code: str, step: int = 1) -> str:
    """A 6-digit code that differs from ``code``."""
    return f"{(int(code) + step) % 10**6:06d}"


def fresh_code(client: Any, backend: Any, arn: str, *, avoid: list[str]) -> str:
    """Send a code that differs from those in ``avoid`` (two equal codes are 1 in a million)."""
    client.send_activation_code(ContactChannelId=arn)
    code = latest_code(backend, arn)
    if code in avoid:
        pytest.skip("the same 6-digit code came up twice; nothing can be told apart")
    return code


def assert_wrong_code(client: Any, arn: str, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    response = caught.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Reason"] == "FIELD_VALIDATION_FAILED"
    assert [f["Name"] for f in response["Fields"]] == ["ActivationCode"]
    assert response["Fields"][0]["Message"]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0,
               message: str = "condition") -> None:
    """Bounded polling for what a server's background worker does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.02)


def wait_delivered(backend: Any, arn: str, count: int | None = None,
                   timeout: float = 20.0) -> list[dict[str, Any]]:
    """The channel's messages once every one of them is SENT."""
    found: list[dict[str, Any]] = []

    def done() -> bool:
        nonlocal found
        found = backend.messages(arn)
        return bool(found) and (count is None or len(found) == count) and all(
            m["DeliveryStatus"] == "SENT" for m in found)

    wait_until(done, timeout, f"the messages of {arn} to be SENT")
    return found
