"""aiobotocore's asynchronous clients under the mock: answered as botocore's are, from the same
state (the one ``before-send`` handler serves both kinds of client)."""

from __future__ import annotations

import os
import unittest
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import boto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.httpxsession import HttpxSession
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from incident_contacts.config import Settings
from incident_contacts.testing import SsmContactsMock, mock_ssm_contacts

# Each async test is marked for anyio's pytest plugin (not the whole module: the unittest
# class below runs its coroutines itself).
anyio = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # aiobotocore's default HTTP session (aiohttp) runs on asyncio; the mock itself answers
    # inside the handler, with no event loop of its own.
    return "asyncio"


NO_RETRIES = AioConfig(retries={"total_max_attempts": 1})
PERSONAL: dict[str, Any] = {"Type": "PERSONAL", "Plan": {"Stages": []}}


@asynccontextmanager
async def async_client(config: AioConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
    session = get_session()
    async with session.create_client("ssm-contacts", region_name="us-east-1",
                                     config=config, **kwargs) as client:
        yield client


def sync_client() -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1")


async def aliases(client: Any) -> list[str]:
    return [c["Alias"] for c in (await client.list_contacts())["Contacts"]]


@anyio
@pytest.mark.parametrize("http_session", [AIOHTTPSession, HttpxSession])
async def test_activation_through_an_async_client(ssm_contacts: SsmContactsMock,
                                                  http_session: type) -> None:
    async with async_client(AioConfig(http_session_cls=http_session)) as client:
        contact = (await client.create_contact(Alias="akuam", **PERSONAL))["ContactArn"]
        assert contact == "arn:aws:ssm-contacts:us-east-1:000000000000:contact/akuam"
        channel = (await client.create_contact_channel(
            ContactId=contact, Name="mail", Type="EMAIL",
            DeliveryAddress={"SimpleAddress": "akua@example.com"}))["ContactChannelArn"]
        [message] = ssm_contacts.messages(ContactChannelArn=channel)
        assert message["Purpose"] == "ACTIVATION"
        assert message["DeliveryStatus"] == "SENT"
        answer = await client.activate_contact_channel(
            ContactChannelId=channel, ActivationCode=message["ActivationCode"])
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        got = await client.get_contact_channel(ContactChannelId=channel)
        assert got["ActivationStatus"] == "ACTIVATED"
        assert got["DeliveryAddress"] == {"SimpleAddress": "akua@example.com"}


@anyio
async def test_an_async_paginator_walks_every_page(ssm_contacts: SsmContactsMock) -> None:
    async with async_client() as client:
        made = [f"oncall-{n}" for n in range(7)]
        for alias in made:
            await client.create_contact(Alias=alias, **PERSONAL)
        paginator = client.get_paginator("list_contacts")
        pages = [page async for page in paginator.paginate(PaginationConfig={"PageSize": 3})]
        assert [len(p["Contacts"]) for p in pages] == [3, 3, 1]
        assert "NextToken" in pages[0] and "NextToken" not in pages[-1]
        assert sorted(c["Alias"] for p in pages for c in p["Contacts"]) == made
        full = await paginator.paginate(PaginationConfig={"PageSize": 2}).build_full_result()
        assert sorted(c["Alias"] for c in full["Contacts"]) == made


def _members(error: ClientError) -> dict[str, Any]:
    response = dict(error.response)
    del response["ResponseMetadata"]
    return response


def _modeled(client: Any, response: dict[str, Any]) -> None:
    """Every member the model gives the error's shape is in the response."""
    shape = client.meta.service_model.shape_for(response["Error"]["Code"])
    assert set(shape.members) <= set(response), (shape.name, response)


@anyio
async def test_errors_are_client_errors_with_every_modeled_member(
        ssm_contacts: SsmContactsMock) -> None:
    sync = sync_client()
    async with async_client(NO_RETRIES) as client:
        contact = (await client.create_contact(Alias="member", **PERSONAL))["ContactArn"]
        rotation = (await client.create_rotation(
            Name="days", ContactIds=[contact], TimeZoneId="UTC",
            Recurrence={"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1,
                        "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}]}))["RotationArn"]
        missing = contact.replace("/member", "/nobody")
        calls: list[tuple[str, dict[str, Any], str]] = [
            ("get_contact", {"ContactId": missing}, "ResourceNotFoundException"),
            ("create_contact", {"Alias": "member", **PERSONAL}, "ConflictException"),
            ("delete_contact", {"ContactId": contact}, "ConflictException"),
            ("create_contact", {"Alias": "long", "DisplayName": "x" * 300, **PERSONAL},
             "ValidationException"),
        ]
        for operation, params, code in calls:
            with pytest.raises(ClientError) as raised:
                await getattr(client, operation)(**params)
            response = _members(raised.value)
            assert response["Error"]["Code"] == code
            assert raised.value.operation_name == sync.meta.method_to_api_mapping[operation]
            # The same request from a botocore client fails the very same way.
            with pytest.raises(ClientError) as sync_raised:
                getattr(sync, operation)(**params)
            assert response == _members(sync_raised.value)
        # Modeled members, the rotation member's DependentEntities included.
        with pytest.raises(client.exceptions.ConflictException) as conflict:
            await client.delete_contact(ContactId=contact)
        _modeled(client, conflict.value.response)
        assert conflict.value.response["DependentEntities"] == [
            {"RelationType": "ROTATION_MEMBER",
             "DependentResourceIds": [rotation]}]
        with pytest.raises(client.exceptions.ResourceNotFoundException) as not_found:
            await client.get_contact(ContactId=missing)
        _modeled(client, not_found.value.response)
        assert not_found.value.response["ResourceId"] == missing
        assert not_found.value.response["ResourceType"] == "CONTACT"
        assert not_found.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        with pytest.raises(client.exceptions.ValidationException) as invalid:
            await client.create_contact(Alias="long", DisplayName="x" * 300, **PERSONAL)
        _modeled(client, invalid.value.response)
        assert invalid.value.response["Reason"] == "FIELD_VALIDATION_FAILED"
        assert [f["Name"] for f in invalid.value.response["Fields"]] == ["DisplayName"]


@anyio
async def test_quota_and_throttling_errors_carry_their_members() -> None:
    with mock_ssm_contacts(settings=Settings(quota_contacts=1)):
        async with async_client(NO_RETRIES) as client:
            await client.create_contact(Alias="first", **PERSONAL)
            with pytest.raises(client.exceptions.ServiceQuotaExceededException) as quota:
                await client.create_contact(Alias="second", **PERSONAL)
            _modeled(client, quota.value.response)
            assert quota.value.response["ResourceType"] == "CONTACT"
            assert quota.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
            assert await aliases(client) == ["first"]
    with mock_ssm_contacts(settings=Settings(throttle_rate=1, throttle_burst=2)) as mock:
        async with async_client(NO_RETRIES) as client:
            await client.list_contacts()
            await client.list_contacts()
            with pytest.raises(client.exceptions.ThrottlingException) as throttled:
                await client.list_contacts()
            # No QuotaCode: the request rate has none (it is optional in the model).
            assert throttled.value.response["ServiceCode"] == "ssm-contacts"
            assert throttled.value.response["RetryAfterSeconds"] >= 1
            assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            sync = boto3.client("ssm-contacts", region_name="us-east-1",
                                config=Config(retries={"total_max_attempts": 1}))
            with pytest.raises(ClientError) as sync_throttled:
                sync.list_contacts()     # the same account's bucket, empty as well
            assert _members(throttled.value) == _members(sync_throttled.value)
            mock.clock.advance(1)
            assert await aliases(client) == []


# A mock object as the decorator, so the test can read its messages.
decorated = mock_ssm_contacts()


@anyio
@decorated
async def test_decorating_an_async_test() -> None:
    async with async_client() as client:
        contact = (await client.create_contact(Alias="decorated", **PERSONAL))["ContactArn"]
        channel = (await client.create_contact_channel(
            ContactId=contact, Name="phone", Type="SMS", DeferActivation=True,
            DeliveryAddress={"SimpleAddress": "+15005550199"}))["ContactChannelArn"]
        assert decorated.messages() == []
        await client.send_activation_code(ContactChannelId=channel)
        [message] = decorated.messages(ContactChannelArn=channel)
        await client.activate_contact_channel(ContactChannelId=channel,
                                              ActivationCode=message["ActivationCode"])


@anyio
@mock_ssm_contacts
async def test_bare_decorator_each_test_starts_fresh() -> None:
    async with async_client() as client:
        assert await aliases(client) == []
        await client.create_contact(Alias="decorated", **PERSONAL)
        assert await aliases(client) == ["decorated"]


@mock_ssm_contacts
class TestIsolatedAsyncioTestCase(unittest.IsolatedAsyncioTestCase):
    """The mock is active from ``setUp`` (so in ``asyncSetUp``) through the cleanups."""

    async def asyncSetUp(self) -> None:
        self.client = await self.enterAsyncContext(
            get_session().create_client("ssm-contacts", region_name="us-east-1"))
        made = await self.client.create_contact(Alias="from-setup", **PERSONAL)
        self.contact = made["ContactArn"]

    async def asyncTearDown(self) -> None:
        await self.client.delete_contact(ContactId=self.contact)

    async def test_sees_what_set_up_made(self) -> None:
        await self.client.create_contact(Alias="from-test", **PERSONAL)
        self.assertEqual(await aliases(self.client), ["from-setup", "from-test"])

    async def test_each_test_starts_fresh(self) -> None:
        self.assertEqual(await aliases(self.client), ["from-setup"])


@anyio
async def test_sync_and_async_clients_share_state(ssm_contacts: SsmContactsMock) -> None:
    sync = sync_client()
    contact = sync.create_contact(Alias="shared", **PERSONAL)["ContactArn"]
    async with async_client() as client:
        assert await aliases(client) == ["shared"]
        channel = (await client.create_contact_channel(
            ContactId=contact, Name="phone", Type="SMS",
            DeliveryAddress={"SimpleAddress": "+15005550199"}))["ContactChannelArn"]
        code = ssm_contacts.messages(ContactChannelArn=channel)[-1]["ActivationCode"]
        sync.activate_contact_channel(ContactChannelId=channel, ActivationCode=code)
        got = await client.get_contact_channel(ContactChannelId=channel)
        assert got["ActivationStatus"] == "ACTIVATED"
        await client.update_contact(ContactId=contact, Plan={"Stages": [
            {"DurationInMinutes": 5,
             "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}]}] * 2})
        await client.start_engagement(ContactId=contact, Sender="cli", Subject="disk full",
                                      Content="disk full on db-1")
        # The engine runs before the async call returns, and on the mock's clock.
        assert [m["Purpose"] for m in ssm_contacts.messages()] == ["ACTIVATION", "PAGE"]
        ssm_contacts.clock.advance(5 * 60)
        assert [m["Purpose"] for m in ssm_contacts.messages()] == [
            "ACTIVATION", "PAGE", "PAGE"]
        pages = (await client.list_pages_by_contact(ContactId=contact))["Pages"]
        assert len(pages) == 2
        assert pages == sync.list_pages_by_contact(ContactId=contact)["Pages"]
    # A nested mock shares the state with the fixture's, for async clients too.
    with mock_ssm_contacts():
        async with async_client() as client:
            assert await aliases(client) == ["shared"]


@anyio
async def test_an_async_client_of_another_account(ssm_contacts: SsmContactsMock) -> None:
    async with async_client(aws_access_key_id="111122223333",
                            aws_secret_access_key="x") as client:
        arn = (await client.create_contact(Alias="a", **PERSONAL))["ContactArn"]
        assert arn == "arn:aws:ssm-contacts:us-east-1:111122223333:contact/a"
    assert sync_client().list_contacts()["Contacts"] == []


@anyio
@pytest.mark.usefixtures("profile_needing_a_process")
async def test_works_without_credentials_even_with_a_profile_that_needs_a_process() -> None:
    with mock_ssm_contacts():
        async with get_session().create_client("ssm-contacts") as client:
            arn = (await client.create_contact(Alias="a", **PERSONAL))["ContactArn"]
            assert arn == "arn:aws:ssm-contacts:eu-west-1:000000000000:contact/a"
    assert "AWS_ACCESS_KEY_ID" not in os.environ


async def _with_moto_services() -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="pages")["TopicArn"]
    sync_client().create_contact(Alias="from-sync", **PERSONAL)
    async with async_client() as client:
        await client.create_contact(Alias="from-async", **PERSONAL)
        assert await aliases(client) == ["from-async", "from-sync"]
    assert [c["Alias"] for c in sync_client().list_contacts()["Contacts"]] == [
        "from-async", "from-sync"]
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [topic]


@anyio
async def test_ours_inside_moto() -> None:
    with mock_aws():
        with mock_ssm_contacts():
            await _with_moto_services()
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="ops")
        assert [u["UserName"] for u in iam.list_users()["Users"]] == ["ops"]


@anyio
async def test_moto_inside_ours(ssm_contacts: SsmContactsMock) -> None:
    with mock_aws():
        await _with_moto_services()
    async with async_client() as client:
        assert await aliases(client) == ["from-async", "from-sync"]


@anyio
@mock_ssm_contacts
async def test_moto_inside_our_decorator() -> None:
    # moto's decorator does not await a coroutine: on an async test, use it as a context.
    with mock_aws():
        await _with_moto_services()


@anyio
@pytest.mark.usefixtures("profile_needing_a_process")
async def test_moto_stopped_before_ours() -> None:
    # moto takes its keys out of the environment when it stops: asynchronous clients made
    # after that, while the mock runs, still get the mock's dummy credentials.
    moto, ours = mock_aws(), mock_ssm_contacts()
    moto.start()
    ours.start()
    try:
        await _with_moto_services()
    finally:
        moto.stop()
    try:
        async with async_client() as client:
            assert await aliases(client) == ["from-async", "from-sync"]
            arn = (await client.create_contact(Alias="after", **PERSONAL))["ContactArn"]
            assert arn == "arn:aws:ssm-contacts:us-east-1:000000000000:contact/after"
    finally:
        ours.stop()
    assert "AWS_ACCESS_KEY_ID" not in os.environ
