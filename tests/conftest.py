"""Fixtures shared by the whole suite.

``backend`` runs a test three ways: in-process (the mock), against a server subprocess on
SQLite, and against one on PostgreSQL. Servers are shared by the tests of a session; each test
gets an account of its own (a 12-digit access key id, decisions §3), so tests never see each
other's data.
"""

from __future__ import annotations

import base64
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from incident_contacts.testing import mock_ssm_contacts
from tests.support import postgres
from tests.support.server import ServerProcess, start_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def new_account() -> str:
    return "".join(random.choice("0123456789") for _ in range(12))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session. Missing PostgreSQL is a failure in CI."""
    try:
        with postgres.cluster() as url:
            yield url
    except postgres.PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is needed in CI: {exc}")
        pytest.skip(f"PostgreSQL is not available: {exc}")


@pytest.fixture
def pg_database(postgres_url: str) -> str:
    """A fresh empty PostgreSQL database."""
    return postgres.new_database(postgres_url)


class Backend:
    """One way of running the service, as the tests see it."""

    def __init__(self, kind: str, *, server: ServerProcess | None = None,
                 mock: Any = None) -> None:
        self.kind = kind
        self.server = server
        self.mock = mock
        self.account = new_account()

    @property
    def endpoint_url(self) -> str | None:
        return self.server.url if self.server else None

    def client(self, region: str = "us-east-1", account: str | None = None,
               retries: bool = False) -> Any:
        return boto3.client(
            "ssm-contacts",
            region_name=region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=account or self.account,
            aws_secret_access_key="secret",
            config=None if retries else NO_RETRIES,
        )

    def messages(self, channel_arn: str | None = None) -> list[dict[str, Any]]:
        if self.server is not None:
            return self.server.messages(channel_arn)
        result: list[dict[str, Any]] = self.mock.messages(ContactChannelArn=channel_arn)
        return result

    def advance(self, seconds: float) -> float:
        if self.server is not None:
            return self.server.advance(seconds)
        now: float = self.mock.clock.advance(seconds)
        return now


def _data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("sqlite-server")
    server = start_server(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory,
                    postgres_url: str) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("postgres-server")
    server = start_server(workdir, database=postgres.new_database(postgres_url),
                          env={"INCIDENT_CONTACTS_DATA_KEY": _data_key()})
    yield server
    server.stop()


@pytest.fixture(params=["inprocess", "server-sqlite", "server-postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "inprocess":
        with mock_ssm_contacts() as mock:
            yield Backend("inprocess", mock=mock)
    elif request.param == "server-sqlite":
        yield Backend("server-sqlite", server=request.getfixturevalue("sqlite_server"))
    else:
        yield Backend("server-postgresql", server=request.getfixturevalue("postgres_server"))


@pytest.fixture
def client(backend: Backend) -> Any:
    return backend.client()
