"""Small builders shared by the functional tests."""

from __future__ import annotations

from typing import Any

import pytest


def personal(client: Any, alias: str, **extra: Any) -> str:
    arn: str = client.create_contact(
        Alias=alias, Type="PERSONAL", Plan={"Stages": []}, **extra
    )["ContactArn"]
    return arn


def channel(client: Any, contact_arn: str, address: str = "+15005550199",
            channel_type: str = "SMS", name: str = "phone", defer: bool = True) -> str:
    arn: str = client.create_contact_channel(
        ContactId=contact_arn, Name=name, Type=channel_type,
        DeliveryAddress={"SimpleAddress": address}, DeferActivation=defer,
    )["ContactChannelArn"]
    return arn


def error_of(excinfo: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """The parsed error response of a botocore ClientError."""
    response: dict[str, Any] = excinfo.value.response
    return response
