"""Accounts, users, clients and signed inspection requests for the security tests."""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.support.server import ServerProcess, start_server

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
REGION = "us-east-1"

A = "111122223333"
B = "444455556666"
C = "777788889999"


@dataclass(frozen=True)
class User:
    key: str
    secret: str
    account: str
    name: str
    policy: dict[str, Any] | None = None
    tags: dict[str, str] | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"


def statement(effect: str, action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **more}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def contact_arn(account: str, alias: str, region: str = REGION) -> str:
    return f"arn:aws:ssm-contacts:{region}:{account}:contact/{alias}"


ADMIN = User("AKIAADMINAAAAAAAAAAA", "admin-secret", A, "admin")
READER = User("AKIAREADERAAAAAAAAAA", "reader-secret", A, "reader", policy(
    statement("Allow", ["ssm-contacts:Get*", "ssm-contacts:List*"]),
))
TEAMS = User("AKIATEAMSAAAAAAAAAAA", "teams-secret", A, "teams", policy(
    statement("Allow", "ssm-contacts:*", [
        f"arn:aws:ssm-contacts:*:{A}:contact/team-*",
        f"arn:aws:ssm-contacts:*:{A}:contact-channel/team-*/*",
    ]),
))
NODELETE = User("AKIANODELETEAAAAAAAA", "nodelete-secret", A, "nodelete", policy(
    statement("Allow", "ssm-contacts:*"),
    statement("Deny", "ssm-contacts:DeleteContact", f"arn:aws:ssm-contacts:*:{A}:contact/team-*"),
))
BOB = User("AKIABOBBBBBBBBBBBBBB", "bob-secret", B, "bob")
BOB2 = User("AKIABOBTWOBBBBBBBBBB", "bob2-secret", B, "bob2")
BREADER = User("AKIABREADERBBBBBBBBB", "breader-secret", B, "breader", policy(
    statement("Allow", "ssm-contacts:List*"),
))
CAROL = User("AKIACAROLCCCCCCCCCCC", "carol-secret", C, "carol")
USERS = (ADMIN, READER, TEAMS, NODELETE, BOB, BOB2, BREADER, CAROL)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def credentials_toml(users: tuple[User, ...] = USERS) -> str:
    blocks = []
    for user in users:
        lines = [
            "[[credentials]]",
            f"access_key_id = {_toml_string(user.key)}",
            f"secret_access_key = {_toml_string(user.secret)}",
            f"account_id = {_toml_string(user.account)}",
            f"user = {_toml_string(user.name)}",
        ]
        if user.policy is not None:
            lines.append(f"policy = {_toml_string(json.dumps(user.policy))}")
        if user.tags is not None:
            pairs = ", ".join(f"{_toml_string(k)} = {_toml_string(v)}"
                              for k, v in user.tags.items())
            lines.append(f"tags = {{ {pairs} }}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def write_credentials(directory: Path, users: tuple[User, ...] = USERS) -> Path:
    path = directory / "credentials.toml"
    path.write_text(credentials_toml(users))
    path.chmod(0o600)
    return path


def new_data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


QUIET = {"INCIDENT_CONTACTS_THROTTLE_RATE": "0"}
"""Tests of other things send requests faster than any person would: no throttling."""


def start_sigv4(workdir: Path, *, args: list[str] | None = None,
                env: dict[str, str] | None = None, users: tuple[User, ...] = USERS,
                database: str | None = None) -> ServerProcess:
    path = write_credentials(workdir, users)
    return start_server(workdir, database=database,
                        args=["--auth", "sigv4", "--credentials", str(path), *(args or [])],
                        env={**QUIET, **(env or {})})


def client(server: ServerProcess, user: User | None = None, *, account: str | None = None,
           region: str = REGION, config: Config | None = NO_RETRIES) -> Any:
    """A boto3 client signing as ``user`` (``--auth sigv4``), or as ``account`` (``--auth off``,
    where the 12-digit access key id names the account)."""
    key, secret = (user.key, user.secret) if user else (account or A, "secret")
    return boto3.client("ssm-contacts", region_name=region, endpoint_url=server.url,
                        aws_access_key_id=key, aws_secret_access_key=secret, config=config)


def error(excinfo: pytest.ExceptionInfo[Any]) -> tuple[str, int, str]:
    """``(code, HTTP status, message)`` as boto3 parsed the error."""
    response = excinfo.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


def signed_inspection(server: ServerProcess, method: str, path: str, *,
                      key: str, secret: str, query: dict[str, str] | None = None,
                      body: bytes = b"", region: str = REGION) -> httpx.Response:
    """A request to an inspection endpoint, signed with SigV4 like an API call."""
    qs = urllib.parse.urlencode(query or {}, quote_via=urllib.parse.quote, safe="")
    url = f"{server.url}/_aws/ssm-contacts/{path}" + (f"?{qs}" if qs else "")
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(key, secret), "ssm-contacts", region).add_auth(request)
    return httpx.request(method, url, content=body or None,
                         headers=dict(request.headers.items()), timeout=10)


def messages(server: ServerProcess, *, key: str, secret: str = "secret",
             channel_arn: str | None = None) -> list[dict[str, Any]]:
    query = {"ContactChannelArn": channel_arn} if channel_arn else None
    response = signed_inspection(server, "GET", "messages", key=key, secret=secret, query=query)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["messages"]
    return result


def personal(c: Any, alias: str) -> str:
    arn: str = c.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
    return arn


def channel(c: Any, contact: str, address: str, channel_type: str = "SMS", *,
            name: str = "phone", defer: bool = False) -> str:
    arn: str = c.create_contact_channel(
        ContactId=contact, Name=name, Type=channel_type,
        DeliveryAddress={"SimpleAddress": address}, DeferActivation=defer,
    )["ContactChannelArn"]
    return arn
