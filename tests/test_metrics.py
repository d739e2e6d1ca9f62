"""Prometheus metrics: counted calls and deliveries, and the figures read at each scrape."""

from __future__ import annotations

import time

import boto3
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings
from incident_contacts.delivery import MemoryTransport
from incident_contacts.engine.delivery import deliver_due
from incident_contacts.metrics import Metrics
from incident_contacts.server import build_dispatcher, build_runtime
from tests.support.server import start_server

START = 1_800_000_000.0
ACCOUNT = "111122223333"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def call(dispatcher, operation: str, params: dict) -> dict:
    headers = {
        "x-amz-target": f"SSMContacts.{operation}",
        "authorization": f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20270115/us-east-1/"
                         "ssm-contacts/aws4_request, SignedHeaders=host, Signature=0",
    }
    response = dispatcher.handle("POST", "/", headers, orjson.dumps(params))
    return orjson.loads(response.body)


def test_figures_read_from_the_database_at_each_scrape():
    clock = ManualClock(START)
    runtime = build_runtime(Settings(database="sqlite://", workers=False), clock)
    metrics = Metrics(runtime)
    dispatcher = build_dispatcher(runtime, metrics)
    contact = call(dispatcher, "CreateContact", {"Alias": "ama", "Type": "PERSONAL",
                                                  "Plan": {"Stages": []}})["ContactArn"]
    call(dispatcher, "CreateContactChannel", {
        "ContactId": contact, "Name": "mail", "Type": "EMAIL",
        "DeliveryAddress": {"SimpleAddress": "ama@example.com"}})
    call(dispatcher, "StartEngagement", {"ContactId": contact, "Sender": "test",
                                         "Subject": "s", "Content": "c"})
    clock.advance(30)

    figures = samples(metrics.exposition().decode())
    assert figures[("incident_contacts_outbox_pending", (("channel_type", "EMAIL"),))] == 1
    assert figures[("incident_contacts_outbox_pending", (("channel_type", "SMS"),))] == 0
    assert figures[("incident_contacts_outbox_oldest_pending_seconds", ())] == 30
    assert figures[("incident_contacts_engine_timers", ())] == 1
    assert figures[("incident_contacts_engine_overdue_seconds", ())] == 30
    # The exposition names no account, contact or address.
    text = metrics.exposition().decode()
    assert ACCOUNT not in text and "ama" not in text

    memory = MemoryTransport()
    memory.fail_next(reason="mailbox does not exist", retryable=False)
    deliver_due(runtime, {"EMAIL": memory}, "w", observe=metrics.observe_delivery)
    figures = samples(metrics.exposition().decode())
    assert figures[("incident_contacts_outbox_pending", (("channel_type", "EMAIL"),))] == 0
    assert figures[("incident_contacts_outbox_failed", (("channel_type", "EMAIL"),))] == 1
    assert figures[("incident_contacts_outbox_oldest_pending_seconds", ())] == 0
    assert figures[("incident_contacts_delivery_attempts_total",
                    (("channel_type", "EMAIL"), ("outcome", "FAILED")))] == 1
    runtime.close()


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path)
    yield server
    server.stop()


def test_calls_and_deliveries_are_counted(server):
    client = boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                          aws_access_key_id=ACCOUNT, aws_secret_access_key="x",
                          config=Config(retries={"total_max_attempts": 1}))
    contact = client.create_contact(Alias="kofi", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
    client.create_contact_channel(ContactId=contact, Name="phone", Type="SMS",
                                  DeliveryAddress={"SimpleAddress": "+15005550100"})
    for _ in range(2):
        with pytest.raises(ClientError):
            client.get_contact(ContactId=contact + "-missing")
    httpx.post(server.url, headers={"X-Amz-Target": "SSMContacts.Nothing"}, content=b"{}")

    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{server.url}/metrics", timeout=10)
        figures = samples(response.text)
        sent = figures.get(("incident_contacts_delivery_attempts_total",
                            (("channel_type", "SMS"), ("outcome", "SENT"))), 0)
        if sent == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert sent == 1

    def requests(operation: str, outcome: str) -> float:
        key = (("operation", operation), ("outcome", outcome))
        return figures.get(("incident_contacts_requests_total", key), 0)

    assert requests("CreateContact", "OK") == 1
    assert requests("CreateContactChannel", "OK") == 1
    assert requests("GetContact", "ResourceNotFoundException") == 2
    assert requests("(unknown)", "ValidationException") == 1
    duration = figures[("incident_contacts_request_duration_seconds_count",
                        (("operation", "GetContact"),))]
    assert duration == 2
    assert figures[("incident_contacts_outbox_pending", (("channel_type", "SMS"),))] == 0


def test_metrics_can_be_turned_off(tmp_path):
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_METRICS": "false"})
    try:
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 404
    finally:
        server.stop()
