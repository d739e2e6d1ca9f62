"""Which requests the mock answers: those sent to AWS's own ssm-contacts endpoints, in every
partition and form botocore knows. A client given an endpoint of its own (a local server,
LocalStack) is left alone and reaches that endpoint, as moto's ``mock_aws`` leaves hosts it
does not know alone, so a suite can use the mock and a real server side by side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from aiobotocore.session import get_session
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointVariantError
from botocore.loaders import create_loader
from moto import mock_aws

from incident_contacts.testing import SsmContactsMock, endpoints, mock_ssm_contacts
from incident_contacts.testing.mock import _RawBody
from tests.support.server import ServerProcess, start_server

PARTITIONS: list[dict[str, Any]] = create_loader().load_data("partitions")["partitions"]
PERSONAL: dict[str, Any] = {"Type": "PERSONAL", "Plan": {"Stages": []}}
ELSEWHERE_ARN = "arn:aws:ssm-contacts:us-east-1:111122223333:contact/elsewhere"


def _answered_elsewhere(client: Any) -> list[str]:
    """A stand-in for the network behind the client: its own ``before-send`` handler, after
    the mock's, answers with a contact no mock made (botocore calls every handler and takes
    the first answer, so the mock's wins when it answers). The URLs it was sent go in the
    list returned."""
    seen: list[str] = []

    def elsewhere(request: Any, **_kwargs: Any) -> AWSResponse:
        seen.append(request.url)
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.1"},
                           _RawBody(b'{"ContactArn": "' + ELSEWHERE_ARN.encode() + b'"}'))

    client.meta.events.register("before-send", elsewhere)
    return seen


def _mock_aliases() -> list[str]:
    client = boto3.client("ssm-contacts", region_name="us-east-1")
    return [c["Alias"] for c in client.list_contacts()["Contacts"]]


@pytest.mark.parametrize("partition", PARTITIONS, ids=[p["id"] for p in PARTITIONS])
@pytest.mark.parametrize(("fips", "dual_stack"),
                         [(False, False), (True, False), (False, True), (True, True)],
                         ids=["standard", "fips", "dual-stack", "fips-dual-stack"])
def test_every_aws_endpoint_is_answered(ssm_contacts: SsmContactsMock, partition: dict[str, Any],
                                        fips: bool, dual_stack: bool) -> None:
    outputs = partition["outputs"]
    region = outputs["implicitGlobalRegion"]
    suffix = outputs["dualStackDnsSuffix" if dual_stack else "dnsSuffix"]
    expected = f"ssm-contacts{'-fips' if fips else ''}.{region}.{suffix}"
    try:
        client = boto3.client("ssm-contacts", region_name=region, config=Config(
            use_fips_endpoint=fips, use_dualstack_endpoint=dual_stack,
            retries={"total_max_attempts": 1}))
    except EndpointVariantError:
        # botocore's own endpoint table refuses this form for the partition (dual-stack in
        # the ISO ones, today): no client reaches it, but should one, it is AWS's host.
        assert endpoints.is_aws_endpoint(f"https://{expected}/")
        return
    sent = _answered_elsewhere(client)
    arn = client.create_contact(Alias="here", **PERSONAL)["ContactArn"]
    assert arn.split(":")[3] == region
    assert arn.endswith(":contact/here")
    assert [c["Alias"] for c in client.list_contacts()["Contacts"]] == ["here"]
    # The host the requests went to (botocore's endpoint rules choose it at each call;
    # ``meta.endpoint_url`` may say otherwise).
    assert {urlsplit(url).hostname for url in sent} == {expected}


@pytest.mark.parametrize("endpoint_url", [
    "http://127.0.0.1:4566",
    "http://localhost:8080/",
    "http://localhost.localstack.cloud:4566",
    "https://ssm-contacts.example.com",
    "https://ssm-contacts.us-east-1.amazonaws.com.example.com",
    "https://ssm-contacts.us-east-1.amazonaws.com.cn.internal",
    "http://[::1]:4566",
    "https://ssm-contacts.us-east-1.amazonaws.com.evil/",
    "https://ssm-contacts.us-east-1.notamazonaws.com",
])
def test_an_endpoint_of_ones_own_is_left_alone(ssm_contacts: SsmContactsMock,
                                               endpoint_url: str) -> None:
    client = boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=endpoint_url,
                          config=Config(retries={"total_max_attempts": 1}))
    seen = _answered_elsewhere(client)
    assert client.create_contact(Alias="elsewhere", **PERSONAL)["ContactArn"] == ELSEWHERE_ARN
    assert len(seen) == 1
    assert urlsplit(seen[0]).hostname == urlsplit(endpoint_url).hostname
    assert _mock_aliases() == []


@pytest.mark.parametrize("endpoint_url", [
    "https://ssm-contacts.eu-west-1.amazonaws.com",
    "http://ssm-contacts.eu-west-1.amazonaws.com/",
    "https://SSM-Contacts.EU-West-1.AmazonAWS.com",
    "https://ssm-contacts.eu-west-1.amazonaws.com:443",
    # Still AWS's own hosts: left alone, these would reach AWS itself.
    "https://ssm-contacts.eu-west-1.amazonaws.com.",
    "https://SSM-Contacts.EU-West-1.AmazonAWS.com.:443/",
    "https://vpce-0a1b2c3d-4e5f6a7b.ssm-contacts.eu-west-1.vpce.amazonaws.com",
    "https://vpce-0a1b2c3d-4e5f6a7b-eu-west-1a.ssm-contacts.eu-west-1.vpce.amazonaws.com",
    "https://ssm-contacts.eu-west-1.api.aws",
])
def test_aws_endpoint_given_as_endpoint_url_is_answered(ssm_contacts: SsmContactsMock,
                                                        endpoint_url: str) -> None:
    client = boto3.client("ssm-contacts", region_name="eu-west-1", endpoint_url=endpoint_url)
    _answered_elsewhere(client)
    arn = client.create_contact(Alias="here", **PERSONAL)["ContactArn"]
    assert arn.startswith("arn:aws:ssm-contacts:eu-west-1:")
    assert arn.endswith(":contact/here")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("beside-the-mock")
    process = start_server(workdir, args=["--auth", "off"])
    yield process
    process.stop()


def test_a_real_server_beside_the_mock_and_moto(server: ServerProcess) -> None:
    with mock_aws(), mock_ssm_contacts():
        remote = boto3.client("ssm-contacts", region_name="us-east-1",
                              endpoint_url=server.url)
        local = boto3.client("ssm-contacts", region_name="us-east-1")
        remote_arn = remote.create_contact(Alias="on-the-server", **PERSONAL)["ContactArn"]
        local.create_contact(Alias="in-the-mock", **PERSONAL)
        assert [c["Alias"] for c in local.list_contacts()["Contacts"]] == ["in-the-mock"]
        assert remote.get_contact(ContactId=remote_arn)["Alias"] == "on-the-server"
        assert "in-the-mock" not in [c["Alias"] for c in remote.list_contacts()["Contacts"]]
        sns = boto3.client("sns", region_name="us-east-1")
        assert sns.create_topic(Name="pages")["TopicArn"].endswith(":pages")
    remote = boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                          aws_access_key_id="a", aws_secret_access_key="b")
    remote.delete_contact(ContactId=remote_arn)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_async_client_reaches_a_real_server_beside_the_mock(
        ssm_contacts: SsmContactsMock, server: ServerProcess) -> None:
    session = get_session()
    async with session.create_client("ssm-contacts", region_name="us-east-1",
                                     endpoint_url=server.url) as remote, \
            session.create_client("ssm-contacts", region_name="us-east-1") as local:
        arn = (await remote.create_contact(Alias="async-remote", **PERSONAL))["ContactArn"]
        await local.create_contact(Alias="async-local", **PERSONAL)
        assert (await remote.get_contact(ContactId=arn))["Alias"] == "async-remote"
        assert [c["Alias"] for c in (await local.list_contacts())["Contacts"]] \
            == ["async-local"]
        await remote.delete_contact(ContactId=arn)
