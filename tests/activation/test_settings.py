"""The activation settings: INCIDENT_CONTACTS_ACTIVATION_SEND_LIMIT, _ACTIVATION_CODE_TTL
(seconds) and _ACTIVATION_MAX_ATTEMPTS, on a server from its environment and in-process from
Settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from incident_contacts.config import Settings
from incident_contacts.testing import mock_ssm_contacts
from tests.activation.helpers import (
    activation_messages,
    assert_wrong_code,
    latest_code,
    new_channel,
    other_code,
    status,
)
from tests.conftest import Backend
from tests.support.server import start_server

LIMITS = {"activation_send_limit": 2, "activation_code_ttl": 120, "activation_max_attempts": 2}


@pytest.fixture(params=["inprocess", "server"])
def tuned(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "inprocess":
        with mock_ssm_contacts(settings=Settings(**LIMITS)) as mock:
            yield Backend("inprocess", mock=mock)
        return
    env = {"INCIDENT_CONTACTS_" + name.upper(): str(value) for name, value in LIMITS.items()}
    server = start_server(tmp_path, env=env)
    try:
        yield Backend("server-sqlite", server=server)
    finally:
        server.stop()


def test_the_settings_change_the_rules(tuned: Backend) -> None:
    client = tuned.client()

    # Lifetime: 120 seconds, and the message says so.
    arn = new_channel(client)
    [message] = activation_messages(tuned, arn)
    assert "It expires in 2 minutes." in message["Body"]
    tuned.advance(121)
    assert_wrong_code(client, arn, message["ActivationCode"])

    # Send limit: 2 an hour, the code on create included.
    client.send_activation_code(ContactChannelId=arn)
    with pytest.raises(ClientError) as caught:
        client.send_activation_code(ContactChannelId=arn)
    assert caught.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert "At most 2 activation codes" in caught.value.response["Error"]["Message"]

    # Wrong tries: 2 void the code.
    code = latest_code(tuned, arn)
    assert_wrong_code(client, arn, other_code(code, 1))
    assert_wrong_code(client, arn, other_code(code, 2))
    assert_wrong_code(client, arn, code)
    assert status(client, arn) == "NOT_ACTIVATED"


def test_a_bad_setting_stops_the_server_with_a_message(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as caught:
        start_server(tmp_path, env={"INCIDENT_CONTACTS_ACTIVATION_SEND_LIMIT": "five"})
    assert "INCIDENT_CONTACTS_ACTIVATION_SEND_LIMIT" in str(caught.value)


@pytest.mark.parametrize(("seconds", "said"), [(90, "1 minute"), (30, "1 minute"),
                                               (899, "14 minutes"), (900, "15 minutes")])
def test_the_message_never_promises_more_time_than_the_code_has(seconds: int, said: str) -> None:
    with mock_ssm_contacts(settings=Settings(activation_code_ttl=seconds)) as contacts:
        arn = new_channel(boto3.client("ssm-contacts", region_name="us-east-1"))
        [message] = contacts.messages(ContactChannelArn=arn)
        assert message["Body"].endswith(f"It expires in {said}."), message["Body"]
