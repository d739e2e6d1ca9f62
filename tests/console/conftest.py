"""The console's fixtures: an application on a fresh database, and a client signed in to it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.console.test_console import ACCOUNT, REGION, make_app, sign_in


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        yield client
