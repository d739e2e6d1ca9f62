"""Two accounts on one server, in both modes, never see each other's contacts, channels or
messages (decisions §3)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from incident_contacts.testing import mock_ssm_contacts
from tests.security.support import (
    ADMIN,
    BOB,
    NO_RETRIES,
    channel,
    client,
    error,
    messages,
    personal,
    signed_inspection,
    start_sigv4,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.server


@dataclass
class Tenant:
    client: Any
    key: str
    secret: str
    account: str
    contact: str = ""
    channel: str = ""
    address: str = ""


@pytest.fixture(scope="module")
def inspecting_sigv4_server(tmp_path_factory: pytest.TempPathFactory
                            ) -> Iterator[ServerProcess]:
    server = start_sigv4(tmp_path_factory.mktemp("sigv4-inspection"), args=["--inspection"])
    yield server
    server.stop()


def _account() -> str:
    return "".join(random.choice("0123456789") for _ in range(12))


@pytest.fixture(params=["off", "sigv4"])
def tenants(request: pytest.FixtureRequest) -> tuple[ServerProcess, Tenant, Tenant]:
    """Two accounts, each with a contact of the same alias and a channel with a code sent."""
    if request.param == "off":
        server: ServerProcess = request.getfixturevalue("off_server")
        one, two = _account(), _account()
        first = Tenant(client(server, account=one), one, "secret", one)
        second = Tenant(client(server, account=two), two, "secret", two)
    else:
        server = request.getfixturevalue("inspecting_sigv4_server")
        first = Tenant(client(server, ADMIN), ADMIN.key, ADMIN.secret, ADMIN.account)
        second = Tenant(client(server, BOB), BOB.key, BOB.secret, BOB.account)
    alias = f"same-{uuid.uuid4().hex[:8]}"
    for n, tenant in enumerate((first, second)):
        tenant.address = f"+1500555{random.randrange(10**4):04d}{n}"
        tenant.contact = personal(tenant.client, alias)
        tenant.channel = channel(tenant.client, tenant.contact, tenant.address)
    assert first.contact != second.contact
    return server, first, second


def test_contacts_and_channels_stay_in_their_account(
        tenants: tuple[ServerProcess, Tenant, Tenant]) -> None:
    _server, first, second = tenants
    for me, other in ((first, second), (second, first)):
        listed = {c["ContactArn"] for c in me.client.list_contacts()["Contacts"]}
        assert me.contact in listed
        assert other.contact not in listed
        calls: list[tuple[str, dict[str, str]]] = [
            ("get_contact", {"ContactId": other.contact}),
            ("get_contact_channel", {"ContactChannelId": other.channel}),
            ("list_contact_channels", {"ContactId": other.contact}),
            ("update_contact_channel", {"ContactChannelId": other.channel, "Name": "stolen"}),
            ("send_activation_code", {"ContactChannelId": other.channel}),
            ("delete_contact_channel", {"ContactChannelId": other.channel}),
            ("delete_contact", {"ContactId": other.contact}),
        ]
        for method, arguments in calls:
            with pytest.raises(ClientError) as info:
                getattr(me.client, method)(**arguments)
            assert error(info)[:2] == ("AccessDeniedException", 403)
        mine = me.client.get_contact_channel(ContactChannelId=me.channel)
        assert mine["DeliveryAddress"]["SimpleAddress"] == me.address
        assert mine["Name"] == "phone"


def test_the_messages_endpoint_shows_the_callers_account_only(
        tenants: tuple[ServerProcess, Tenant, Tenant]) -> None:
    server, first, second = tenants
    for me, other in ((first, second), (second, first)):
        seen = messages(server, key=me.key, secret=me.secret)
        channels = {m["ContactChannelArn"] for m in seen}
        assert me.channel in channels
        assert {arn.split(":")[4] for arn in channels} == {me.account}
        addresses = {m["DeliveryAddress"] for m in seen}
        assert me.address in addresses
        assert other.address not in addresses
        assert messages(server, key=me.key, secret=me.secret, channel_arn=other.channel) == []


def test_clearing_messages_clears_the_callers_account_only(
        tenants: tuple[ServerProcess, Tenant, Tenant]) -> None:
    server, first, second = tenants
    response = signed_inspection(server, "DELETE", "messages", key=first.key,
                                 secret=first.secret)
    assert response.status_code == 200
    assert messages(server, key=first.key, secret=first.secret) == []
    assert second.channel in [m["ContactChannelArn"] for m in
                              messages(server, key=second.key, secret=second.secret)]


def test_unsigned_inspection(tenants: tuple[ServerProcess, Tenant, Tenant]) -> None:
    """``--auth off``: the endpoint is a development tool and an unsigned request sees every
    account. ``--auth sigv4``: it is refused like an unsigned API call."""
    server, first, second = tenants
    response = httpx.get(f"{server.url}/_aws/ssm-contacts/messages", timeout=10)
    if "--auth" in server.args:
        assert response.status_code == 403
        assert response.json()["__type"] == "MissingAuthenticationTokenException"
        wrong = signed_inspection(server, "GET", "messages", key=first.key, secret="wrong")
        assert wrong.status_code == 403
        assert wrong.json()["__type"] == "InvalidSignatureException"
        clock = httpx.post(f"{server.url}/_aws/ssm-contacts/clock", json={}, timeout=10)
        assert clock.status_code == 403
        signed = signed_inspection(server, "POST", "clock", key=first.key, secret=first.secret,
                                   body=b"{}")
        assert signed.status_code == 200, signed.text
    else:
        assert response.status_code == 200
        everyone = {m["ContactChannelArn"] for m in response.json()["messages"]}
        assert {first.channel, second.channel} <= everyone


def test_the_in_process_mock_keeps_accounts_apart_too() -> None:
    with mock_ssm_contacts() as mock:
        mine, theirs = (boto3.client("ssm-contacts", region_name="us-east-1",
                                     aws_access_key_id=account, aws_secret_access_key="x",
                                     config=NO_RETRIES)
                        for account in ("111111111111", "222222222222"))
        contact = personal(mine, "mocked")
        phone = channel(mine, contact, "+15005550177")
        for method, arguments in (("get_contact", {"ContactId": contact}),
                                  ("get_contact_channel", {"ContactChannelId": phone})):
            with pytest.raises(ClientError) as info:
                getattr(theirs, method)(**arguments)
            assert error(info)[:2] == ("AccessDeniedException", 403)
        assert theirs.list_contacts()["Contacts"] == []
        assert [m["ContactChannelArn"] for m in mock.messages()] == [phone]
