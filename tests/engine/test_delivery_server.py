"""The delivery worker as the server runs it: started with the application's lifespan when
``settings.workers`` is on, with the transports given to ``build_application``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from incident_contacts.api.app import Application
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine.delivery import DeliveryWorker
from incident_contacts.server import build_application
from tests.delivery.conftest import LOOPBACK, _ThreadedServer
from tests.engine.test_delivery import data_key, transports_of

HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "Authorization": "AWS4-HMAC-SHA256 Credential=111122223333/20240101/us-east-1/"
                     "ssm-contacts/aws4_request, SignedHeaders=host, Signature=00",
}


@contextmanager
def serving(app: Application) -> Iterator[httpx.Client]:
    """The application under uvicorn in a thread, lifespan and all; a client for it."""
    server = _ThreadedServer(uvicorn.Config(app, host=LOOPBACK, port=0, lifespan="on",
                                            log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        assert server.ready.wait(10), "the server did not start"
        with httpx.Client(base_url=f"http://{LOOPBACK}:{server.port}", trust_env=False,
                          timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def call(client: httpx.Client, operation: str, params: dict[str, object]) -> dict[str, str]:
    response = client.post("/", content=json.dumps(params),
                           headers={**HEADERS, "X-Amz-Target": f"SSMContacts.{operation}"})
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(database=f"sqlite:///{tmp_path / 'db.sqlite'}", data_key=data_key(),
                    throttle_rate=0.0, **values)  # type: ignore[arg-type]


def test_the_server_delivers_through_the_transports_it_was_given(tmp_path: Path) -> None:
    memory = MemoryTransport()
    app = build_application(settings(tmp_path), transports=transports_of(memory))
    assert [type(b) for b in app.background if isinstance(b, DeliveryWorker)] == [DeliveryWorker]
    with serving(app) as client:
        contact = call(client, "CreateContact",
                       {"Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}})
        channel = call(client, "CreateContactChannel", {
            "ContactId": contact["ContactArn"], "Name": "mail", "Type": "EMAIL",
            "DeliveryAddress": {"SimpleAddress": "akua@example.com"}})
        deadline = time.monotonic() + 10
        while not memory.sent:
            assert time.monotonic() < deadline, "nothing was delivered"
            time.sleep(0.01)
        [message] = client.get("/_aws/ssm-contacts/messages").json()["messages"]
    [sent] = memory.sent
    assert (sent.channel_type, sent.address, sent.subject) == \
        ("EMAIL", "akua@example.com", "Your Incident Manager activation code")
    assert message["ActivationCode"] in sent.body
    assert message["ContactChannelArn"] == channel["ContactChannelArn"]
    assert sent.message_id == message["MessageId"]


def test_without_workers_nothing_is_sent(tmp_path: Path) -> None:
    memory = MemoryTransport()
    app = build_application(settings(tmp_path, workers=False), transports=transports_of(memory))
    assert not any(isinstance(b, DeliveryWorker) for b in app.background)
    with serving(app) as client:
        contact = call(client, "CreateContact",
                       {"Alias": "akua", "Type": "PERSONAL", "Plan": {"Stages": []}})
        call(client, "CreateContactChannel", {
            "ContactId": contact["ContactArn"], "Name": "sms", "Type": "SMS",
            "DeliveryAddress": {"SimpleAddress": "+15005550199"}})
        [message] = client.get("/_aws/ssm-contacts/messages").json()["messages"]
    assert message["DeliveryStatus"] == "PENDING"
    assert memory.attempts == 0


def test_a_half_configured_provider_stops_the_build(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="INCIDENT_CONTACTS_TWILIO_AUTH_TOKEN"):
        build_application(settings(tmp_path, twilio_account_sid="AC123",
                                   twilio_from="+15005550006"))
