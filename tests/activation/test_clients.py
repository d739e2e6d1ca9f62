"""The activation flow with other AWS clients than boto3: the AWS CLI and the AWS SDK for
JavaScript v3 each create a channel with deferred activation, send a code, read it from the
messages endpoint, activate, and see ACTIVATED."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.conftest import IN_CI, new_account
from tests.support.server import ServerProcess

JS = Path(__file__).resolve().parent.parent / "js"


def _missing(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (needed in CI)")
    pytest.skip(reason)


def _env(account: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="secret",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


def test_the_aws_cli_activates_a_channel(sqlite_server: ServerProcess) -> None:
    aws = shutil.which("aws")
    if aws is None:
        _missing("the AWS CLI is not installed")
    env = _env(new_account())

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [aws, "ssm-contacts", *args, "--endpoint-url", sqlite_server.url,
             "--region", "us-east-1", "--output", "json"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    contact = cli("create-contact", "--alias", "cli-person", "--type", "PERSONAL",
                  "--plan", '{"Stages": []}')["ContactArn"]
    channel = cli("create-contact-channel", "--contact-id", contact, "--name", "phone",
                  "--type", "SMS", "--delivery-address", "SimpleAddress=+15005550199",
                  "--defer-activation")["ContactChannelArn"]
    assert sqlite_server.messages(channel) == []
    cli("send-activation-code", "--contact-channel-id", channel)
    [message] = sqlite_server.messages(channel)
    assert cli("get-contact-channel", "--contact-channel-id",
               channel)["ActivationStatus"] == "NOT_ACTIVATED"
    cli("activate-contact-channel", "--contact-channel-id", channel,
        "--activation-code", message["ActivationCode"])
    assert cli("get-contact-channel", "--contact-channel-id",
               channel)["ActivationStatus"] == "ACTIVATED"


def test_the_javascript_sdk_activates_a_channel(sqlite_server: ServerProcess) -> None:
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed")
    if not (JS / "node_modules" / "@aws-sdk" / "client-ssm-contacts").is_dir():
        _missing(f"@aws-sdk/client-ssm-contacts is not installed (npm install in {JS})")
    done = subprocess.run([node, "activation.mjs", sqlite_server.url], cwd=JS,
                          env=_env(new_account()), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["messagesBefore"], result["messagesAfter"]) == (0, 1)
    assert re.fullmatch(r"[0-9]{6}", result["code"])
    assert (result["initialStatus"], result["finalStatus"]) == ("NOT_ACTIVATED", "ACTIVATED")
    # The server agrees.
    response = httpx.get(f"{sqlite_server.url}/_aws/ssm-contacts/messages",
                         params={"ContactChannelArn": result["contactChannelArn"]}, timeout=10)
    assert [m["ActivationCode"] for m in response.json()["messages"]] == [result["code"]]
