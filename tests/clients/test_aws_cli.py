"""The AWS CLI against a real server: create, read and list a contact and a channel, with the
CLI's own pagination, and an error as the CLI reports it."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.clients.helpers import aws_env, missing
from tests.conftest import new_account
from tests.support.server import ServerProcess

pytestmark = pytest.mark.server


class Cli:
    def __init__(self, server: ServerProcess) -> None:
        aws = shutil.which("aws")
        if aws is None:
            missing("the AWS CLI is not installed")
        self.aws = aws
        self.server = server
        self.account = new_account()
        self.env = aws_env(self.account)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.aws, "ssm-contacts", *args, "--endpoint-url", self.server.url,
             "--region", "us-east-1", "--output", "json"],
            env=self.env, capture_output=True, text=True, timeout=60,
        )

    def __call__(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture
def cli(sqlite_server: ServerProcess) -> Cli:
    return Cli(sqlite_server)


def test_a_contact(cli: Cli) -> None:
    arns = [
        cli("create-contact", "--alias", alias, "--display-name", f"Person {alias}",
            "--type", "PERSONAL", "--plan", '{"Stages": []}',
            "--tags", "Key=team,Value=sre")["ContactArn"]
        for alias in ("akua", "bongani", "chidi")
    ]
    assert arns[0] == f"arn:aws:ssm-contacts:us-east-1:{cli.account}:contact/akua"
    got = cli("get-contact", "--contact-id", arns[0])
    assert got == {"ContactArn": arns[0], "Alias": "akua", "DisplayName": "Person akua",
                   "Type": "PERSONAL", "Plan": {"Stages": []}}
    # --page-size 2 makes the CLI follow NextToken itself.
    listed = cli("list-contacts", "--page-size", "2")
    assert [c["ContactArn"] for c in listed["Contacts"]] == arns
    assert "NextToken" not in listed
    assert cli("list-contacts", "--alias-prefix", "bo")["Contacts"] == [
        {"ContactArn": arns[1], "Alias": "bongani", "DisplayName": "Person bongani",
         "Type": "PERSONAL"}]
    assert cli("list-tags-for-resource", "--resource-arn", arns[2])["Tags"] == [
        {"Key": "team", "Value": "sre"}]


def test_a_channel(cli: Cli) -> None:
    contact = cli("create-contact", "--alias", "akua", "--type", "PERSONAL",
                  "--plan", '{"Stages": []}')["ContactArn"]
    channel = cli("create-contact-channel", "--contact-id", contact, "--name", "work mail",
                  "--type", "EMAIL", "--delivery-address", "SimpleAddress=akua@example.com",
                  "--defer-activation")["ContactChannelArn"]
    assert channel.startswith(
        f"arn:aws:ssm-contacts:us-east-1:{cli.account}:contact-channel/akua/")
    got = cli("get-contact-channel", "--contact-channel-id", channel)
    assert got == {"ContactArn": contact, "ContactChannelArn": channel, "Name": "work mail",
                   "Type": "EMAIL", "DeliveryAddress": {"SimpleAddress": "akua@example.com"},
                   "ActivationStatus": "NOT_ACTIVATED"}
    listed = cli("list-contact-channels", "--contact-id", contact)
    assert listed["ContactChannels"] == [got]


def test_an_error(cli: Cli) -> None:
    done = cli.run("get-contact", "--contact-id",
                   f"arn:aws:ssm-contacts:us-east-1:{cli.account}:contact/nobody")
    assert done.returncode != 0
    assert "(ResourceNotFoundException) when calling the GetContact operation" in done.stderr
    done = cli.run("create-contact", "--alias", "Not Valid", "--type", "PERSONAL",
                   "--plan", '{"Stages": []}')
    assert done.returncode != 0
    assert "(ValidationException) when calling the CreateContact operation" in done.stderr
