"""Fixtures of the copy tests: one server subprocess per test module holds both sides, the
source account in us-east-1 and the target account in eu-west-1 (the account is the 12-digit
access key id, decisions §3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import new_account
from tests.copying.test_copying import client
from tests.support.server import ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def accounts(server: ServerProcess) -> tuple[Any, Any, str, str]:
    source_account, target_account = new_account(), new_account()
    return (client(server, source_account, "us-east-1"),
            client(server, target_account, "eu-west-1"), source_account, target_account)
