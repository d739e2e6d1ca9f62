"""A server never sends an activation code that expired before it could go out, and gives
Twilio the time the code has left, from the code's expiry stored with the message (not from
the sending process's setting). Time moves through the inspection clock, the clock codes
expire by."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from incident_contacts.engine.delivery import EXPIRED_CODE
from tests.activation.helpers import PHONE, new_channel, wait_delivered, wait_until
from tests.activation.test_providers import twilio_env
from tests.conftest import Backend
from tests.engine.test_delivery import data_key
from tests.support.server import start_server

from .conftest import FakeTwilio

UNAVAILABLE = {"code": 20500, "message": "Service unavailable", "status": 503}


def _outcomes(database: str) -> tuple[str | None, list[tuple[int, str]]]:
    """The message's last error and its attempts, read from the server's database."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            last_error = conn.execute(sa.text("SELECT last_error FROM outbox")).scalar_one()
            attempts = conn.execute(sa.text(
                "SELECT attempt, outcome FROM delivery_attempts ORDER BY id")).all()
    finally:
        engine.dispose()
    return last_error, [tuple(row) for row in attempts]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


def test_a_code_held_by_a_failing_provider_past_its_expiry_is_failed_unsent(
        tmp_path: Path, fake_twilio: FakeTwilio, database: str) -> None:
    fake_twilio.respond_next(503, UNAVAILABLE)
    server = start_server(tmp_path, database=database, env={
        **twilio_env(fake_twilio), "INCIDENT_CONTACTS_DATA_KEY": data_key()})
    try:
        backend = Backend("server", server=server)
        arn = new_channel(backend.client())
        wait_until(lambda: len(fake_twilio.requests) == 1, message="the refused attempt")
        backend.advance(16 * 60)            # the provider is back, but the code has expired
        wait_until(lambda: [m["DeliveryStatus"] for m in backend.messages(arn)] == ["FAILED"],
                   message="the message to fail")
    finally:
        server.stop()
    assert len(fake_twilio.requests) == 1   # never sent again
    assert _outcomes(database) == (EXPIRED_CODE, [(1, "RETRY"), (2, "FAILED")])


def test_a_code_held_less_than_its_life_is_sent_with_the_rest_of_it(
        tmp_path: Path, fake_twilio: FakeTwilio) -> None:
    fake_twilio.respond_next(503, UNAVAILABLE)
    server = start_server(tmp_path, env=twilio_env(fake_twilio))
    try:
        backend = Backend("server-sqlite", server=server)
        arn = new_channel(backend.client())
        wait_until(lambda: len(fake_twilio.requests) == 1, message="the refused attempt")
        backend.advance(10 * 60)
        [message] = wait_delivered(backend, arn, count=1)
    finally:
        server.stop()
    refused, sent = fake_twilio.requests
    assert message["ActivationCode"] in sent["form"]["Body"]
    assert 290 <= int(sent["form"]["ValidityPeriod"]) <= 300      # 15 minutes less 10 and a bit
    assert int(refused["form"]["ValidityPeriod"]) >= 890


def test_the_time_to_live_comes_from_the_code_not_from_the_sending_process(
        tmp_path: Path, fake_twilio: FakeTwilio) -> None:
    """Queued by a process whose codes live 2 minutes, sent by one whose codes live 15: the
    message says 2 minutes, as its code does."""
    first = start_server(tmp_path, env={"INCIDENT_CONTACTS_WORKERS": "false",
                                        "INCIDENT_CONTACTS_ACTIVATION_CODE_TTL": "120"})
    try:
        arn = new_channel(Backend("server-sqlite", server=first).client())
    finally:
        first.stop()
    second = start_server(tmp_path, env=twilio_env(fake_twilio))
    try:
        wait_delivered(Backend("server-sqlite", server=second), arn, count=1)
    finally:
        second.stop()
    [sent] = fake_twilio.requests
    assert sent["form"]["To"] == PHONE
    assert 60 <= int(sent["form"]["ValidityPeriod"]) <= 120
