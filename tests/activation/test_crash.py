"""At least once, never lost: a code acknowledged by SendActivationCode is delivered even when
the server is killed (``kill -9``) before it could send it."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.activation.helpers import EMAIL, PHONE, new_channel, wait_delivered, wait_until
from tests.activation.test_providers import twilio_env
from tests.conftest import Backend
from tests.delivery.conftest import LOOPBACK, FakeTwilio, RecordingHandler
from tests.support.server import free_port, restart, start_server


def _attempts(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return list(conn.execute("SELECT attempt, outcome FROM delivery_attempts ORDER BY id"))


def test_a_code_queued_before_a_crash_is_sent_after_restart(tmp_path: Path,
                                                             fake_twilio: FakeTwilio) -> None:
    # Workers off: the message is acknowledged and stays queued until the process dies.
    first = start_server(tmp_path, env={**twilio_env(fake_twilio),
                                        "INCIDENT_CONTACTS_WORKERS": "false"})
    try:
        backend = Backend("server-sqlite", server=first)
        client = backend.client()
        arn = new_channel(client, defer=True)
        client.send_activation_code(ContactChannelId=arn)
        [queued] = backend.messages(arn)
        assert queued["DeliveryStatus"] == "PENDING"
    finally:
        first.kill()
    assert fake_twilio.requests == []

    second = start_server(tmp_path, env=twilio_env(fake_twilio))
    try:
        [sent] = wait_delivered(Backend("server-sqlite", server=second), arn, count=1)
    finally:
        second.stop()
    [request] = fake_twilio.requests
    assert request["form"]["To"] == PHONE
    assert sent["ActivationCode"] in request["form"]["Body"]
    assert sent["MessageId"] == queued["MessageId"]


def test_a_code_whose_sending_kept_failing_is_sent_after_a_crash_and_restart(
        tmp_path: Path) -> None:
    port = free_port()                          # nothing listens there yet
    server = start_server(tmp_path, env={
        "INCIDENT_CONTACTS_SMTP_URL": f"smtp://{LOOPBACK}:{port}",
        "INCIDENT_CONTACTS_EMAIL_FROM": "oncall@example.com",
    })
    database = tmp_path / "server.db"
    try:
        backend = Backend("server-sqlite", server=server)
        arn = new_channel(backend.client(), type="EMAIL", address=EMAIL)
        wait_until(lambda: len(_attempts(database)) >= 1, message="a failed attempt")
        [pending] = backend.messages(arn)
        assert pending["DeliveryStatus"] == "PENDING"
    finally:
        server.kill()

    handler = RecordingHandler()
    smtp = Controller(handler, hostname=LOOPBACK, port=port, server_hostname="mail.test")
    smtp.start()
    try:
        again = restart(server)
        try:
            backend = Backend("server-sqlite", server=again)
            backend.advance(600)                # past any backoff (and any claim) left behind
            [sent] = wait_delivered(backend, arn, count=1)
        finally:
            again.stop()
    finally:
        smtp.stop()

    [received] = handler.received
    assert received.rcpt_tos == [EMAIL]
    mail = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(mail, email.message.EmailMessage)
    assert f"activation code is {sent['ActivationCode']}." in mail.get_content()
    attempts = _attempts(database)
    assert len(attempts) >= 2
    assert [outcome for _, outcome in attempts] == ["RETRY"] * (len(attempts) - 1) + ["SENT"]
    assert [n for n, _ in attempts] == list(range(1, len(attempts) + 1))
