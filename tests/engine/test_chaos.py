"""Two servers on one PostgreSQL database share delivery and the engagement engine; one is
killed (``kill -9``) in the middle of a burst of StartEngagement and SendActivationCode calls
while the second stages of earlier escalations are being worked off. Then:

* every message an acknowledged call queued is delivered at least once (seen by a local SMTP
  server), and every message in the outbox ends SENT: nothing stays PENDING;
* a message is delivered more than once only when it was in flight on the killed server
  (claimed by it, not yet recorded, when it died);
* each engagement's second stage fires exactly once (one track, one page), never before its
  due time, on whichever server is left;
* the survivor takes the dead server's claims over within its liveness interval (5 s), long
  before their one-minute lease ends.

Both servers' clocks are moved together through the inspection clock endpoint while both
run; after the kill the survivor's alone. The survivor is paused (SIGSTOP) for the moment of
the kill, so that the set of messages in flight on the dead server can be read before
anyone gives them back."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from incident_contacts.engine.presence import LIVENESS_SECONDS
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import engagement_tracks, engagements, pages
from tests.conftest import Backend
from tests.delivery.conftest import LOOPBACK
from tests.durability.torture import Database
from tests.engagements.helpers import wait_until
from tests.support.server import ServerProcess, free_port, start_server

PERSONS = 10
ENGAGEMENTS = 100
CODES = 100
STAGE_SECONDS = 5 * 60
SMTP_DELAY = 0.015
"""How long the SMTP server takes to answer a message it has already kept: a message handed
over in that time and not yet recorded is in flight when its sender dies."""


@dataclass
class SlowMailbox:
    """An aiosmtpd handler that keeps each message as soon as its data arrives and answers a
    moment later, as a provider that accepted a message before its answer got back would."""

    received: list[tuple[str, str]] = field(default_factory=list)   # (Message-ID, To)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = email.message_from_bytes(envelope.original_content or b"",
                                        policy=email.policy.default)
        with self.lock:
            self.received.append((str(mail["Message-ID"]), ",".join(envelope.rcpt_tos)))
        await asyncio.sleep(SMTP_DELAY)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def per_message(self) -> Counter[str]:
        """Deliveries by outbox message id (the SMTP transport puts it in the Message-ID)."""
        with self.lock:
            return Counter(header.strip("<>").split("@")[0].split(".")[-1]
                           for header, _to in self.received)


def _client(server: ServerProcess, account: str) -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id=account, aws_secret_access_key="secret",
                        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16,
                                      connect_timeout=2, read_timeout=20))


def _setup(client: Any, server: ServerProcess) -> tuple[list[str], list[str]]:
    """Ten people with an activated e-mail channel each; ten two-stage escalation plans (stage
    one pages person k, stage two person k + 1); a hundred deferred channels for the codes."""
    persons = []
    for index in range(PERSONS):
        person = client.create_contact(Alias=f"person-{index}", Type="PERSONAL",
                                       Plan={"Stages": []})["ContactArn"]
        channel = client.create_contact_channel(
            ContactId=person, Name="mail", Type="EMAIL",
            DeliveryAddress={"SimpleAddress": f"person-{index}@example.com"},
        )["ContactChannelArn"]
        [message] = server.messages(channel)
        client.activate_contact_channel(ContactChannelId=channel,
                                        ActivationCode=message["ActivationCode"])
        client.update_contact(ContactId=person, Plan={"Stages": [{
            "DurationInMinutes": 1,
            "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel,
                                               "RetryIntervalInMinutes": 0}}]}]})
        persons.append(person)
    plans = [client.create_contact(Alias=f"escalation-{index}", Type="ESCALATION", Plan={
        "Stages": [
            {"DurationInMinutes": STAGE_SECONDS // 60, "Targets": [
                {"ContactTargetInfo": {"ContactId": persons[index], "IsEssential": True}}]},
            {"DurationInMinutes": STAGE_SECONDS // 60, "Targets": [
                {"ContactTargetInfo": {"ContactId": persons[(index + 1) % PERSONS],
                                       "IsEssential": True}}]},
        ]})["ContactArn"] for index in range(PERSONS)]
    channels = [client.create_contact_channel(
        ContactId=persons[index % PERSONS], Name=f"code {index}", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": f"code-{index}@example.com"}, DeferActivation=True,
    )["ContactChannelArn"] for index in range(CODES)]
    return plans, channels


@dataclass
class Calls:
    """The burst's calls, each sent to one server and, when that one does not answer, to the
    other (as a client behind a load balancer would); what was acknowledged, by whom."""

    clients: dict[str, Any]
    plans: list[str]
    channels: list[str]
    engagements: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)          # channels sent a code
    unanswered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, index: int) -> None:
        order = ["a", "b"] if (index // 2) % 2 == 0 else ["b", "a"]
        for name in order:
            try:
                if index % 2 == 0:
                    arn = self.clients[name].start_engagement(
                        ContactId=self.plans[index % PERSONS], Sender="chaos",
                        Subject=f"chaos {index}", Content="the database is down")
                    with self.lock:
                        self.engagements.append(arn["EngagementArn"])
                else:
                    channel = self.channels[index // 2]
                    self.clients[name].send_activation_code(ContactChannelId=channel)
                    with self.lock:
                        self.codes.append(channel)
                return
            except BotoCoreError:
                with self.lock:
                    self.unanswered += 1
        raise AssertionError(f"call {index}: neither server answered")


def _data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _advance(servers: list[ServerProcess], seconds: float) -> None:
    for server in servers:
        server.advance(seconds)


@pytest.mark.postgres
def test_two_servers_lose_nothing_when_one_is_killed_mid_burst(tmp_path: Path,
                                                               pg_database: str) -> None:
    mailbox = SlowMailbox()
    smtp = Controller(mailbox, hostname=LOOPBACK, port=free_port(), server_hostname="mail.test")
    smtp.start()
    env = {"INCIDENT_CONTACTS_THROTTLE_RATE": "0", "INCIDENT_CONTACTS_DATA_KEY": _data_key(),
           "INCIDENT_CONTACTS_SMTP_URL": f"smtp://{LOOPBACK}:{smtp.port}",
           "INCIDENT_CONTACTS_EMAIL_FROM": "oncall@example.com"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_server(tmp_path / "a", database=pg_database, env=env)
    b = start_server(tmp_path / "b", database=pg_database, env=env)
    db = Database(pg_database)
    began = time.monotonic()
    try:
        account = Backend("server-postgresql", server=a).account
        plans, channels = _setup(_client(a, account), a)
        calls = Calls({"a": _client(a, account), "b": _client(b, account)}, plans, channels)
        # Every even call starts an engagement, every odd one sends a code: the first half
        # before the clocks move, the second half with the kill in its middle.
        first, second = range(0, ENGAGEMENTS), range(ENGAGEMENTS, ENGAGEMENTS + CODES)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(calls.call, first))
        first_stage = sa.select(sa.func.count()).select_from(pages)
        wait_until(lambda: db.scalar(first_stage) >= len(calls.engagements), timeout=30,
                   message="the first stages of the first half")
        assert _second_stages(db) == [], "a second stage fired before its time"

        _advance([a, b], STAGE_SECONDS)     # the first half's second stages fall due
        killed: dict[str, Any] = {}
        with ThreadPoolExecutor(8) as pool:
            burst = pool.map(calls.call, second)
            # The kill: once the second stages are under way and mail is going out.
            wait_until(lambda: len(_second_stages(db)) >= 10, timeout=30,
                       message="second stages under way", interval=0.005)
            killed.update(_kill_one(a, b, db, mailbox))
            list(burst)
        assert killed["in_flight_count"] > 0, "the kill came when the server held no claim"
        taken_over = _takeover(db, killed)

        _advance([b], STAGE_SECONDS)        # the second half's second stages fall due
        engaged = db.rows(sa.select(engagements.c.engagement_id))
        wait_until(lambda: len(_second_stages(db)) == len(engaged), timeout=40,
                   message="every second stage")
        pending = sa.select(sa.func.count()).select_from(outbox).where(
            outbox.c.status != "SENT")
        wait_until(lambda: db.scalar(pending) == 0, timeout=40,
                   message="every message SENT", interval=0.1)
        time.sleep(0.3)                     # a send still under way would show now
        elapsed = time.monotonic() - began

        _check(db, mailbox, calls, killed)
        duplicates = {m: n for m, n in mailbox.per_message().items() if n > 1}
        print(f"\nchaos: {len(calls.engagements)} engagements and {len(calls.codes)} codes "
              f"acknowledged, {calls.unanswered} calls unanswered by the killed server; "
              f"{killed['in_flight_count']} messages in flight on it, {len(duplicates)} "
              f"delivered twice; claims given back {taken_over['released']:.2f} s after the "
              f"kill, first of them sent after {taken_over['sent']:.2f} s; "
              f"{mailbox.count()} mails in {elapsed:.1f} s")
        assert taken_over["released"] <= LIVENESS_SECONDS + 2.0, taken_over
    finally:
        for server in (a, b):
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGCONT)
            server.stop()
        db.close()
        smtp.stop()


def _second_stages(db: Database) -> list[Any]:
    return db.rows(sa.select(pages.c.engagement_pk, pages.c.created_at, engagements.c.start_time)
                   .join(engagement_tracks, engagement_tracks.c.id == pages.c.track_pk)
                   .join(engagements, engagements.c.id == pages.c.engagement_pk)
                   .where(engagement_tracks.c.escalation_stage == 1))


def _kill_one(a: ServerProcess, b: ServerProcess, db: Database, mailbox: SlowMailbox
              ) -> dict[str, Any]:
    """``kill -9`` of ``a`` with ``b`` paused: what ``a`` held when it died is read before
    ``b`` can give anything back."""
    b.process.send_signal(signal.SIGSTOP)
    try:
        a.process.send_signal(signal.SIGKILL)
        at = time.monotonic()
        a.process.wait(15)
        # Its sessions end with it; a claim whose COMMIT was on its way may still land.
        time.sleep(0.05)
        in_flight = db.claims_of(a.process.pid)
        mailed = set(mailbox.per_message())
    finally:
        b.process.send_signal(signal.SIGCONT)
    return {"at": at, "pid": a.process.pid, "in_flight": in_flight,
            "in_flight_count": len(in_flight), "mailed": mailed}


def _takeover(db: Database, killed: dict[str, Any]) -> dict[str, float]:
    """Seconds from the kill until the survivor gave back the dead server's claims, and until
    the first of them was sent."""
    in_flight: set[str] = killed["in_flight"]
    if not in_flight:
        return {"released": 0.0, "sent": 0.0}
    wait_until(lambda: not db.claims_of(killed["pid"]), timeout=LIVENESS_SECONDS + 10,
               message="the dead server's claims given back", interval=0.01)
    released = time.monotonic() - killed["at"]
    sent = sa.select(sa.func.count()).select_from(outbox).where(
        outbox.c.message_id.in_(in_flight), outbox.c.status == "SENT")
    wait_until(lambda: db.scalar(sent) > 0, timeout=20, message="a given-back message sent",
               interval=0.01)
    return {"released": released, "sent": time.monotonic() - killed["at"]}


def _check(db: Database, mailbox: SlowMailbox, calls: Calls, killed: dict[str, Any]) -> None:
    rows = db.rows(sa.select(outbox.c.message_id, outbox.c.status, outbox.c.purpose,
                             outbox.c.channel_arn, outbox.c.page_arn))
    delivered = mailbox.per_message()
    # Nothing stays PENDING; everything queued, acknowledged or not, went out.
    assert Counter(r.status for r in rows) == {"SENT": len(rows)}
    assert sorted(m for m in delivered if delivered[m]) == sorted(r.message_id for r in rows), \
        "a message was not delivered, or a mail names no message"
    # Twice only when in flight on the killed server: claimed by it, handed to the SMTP
    # server before it died, and not recorded.
    twice = {m for m, n in delivered.items() if n > 1}
    assert twice <= killed["in_flight"] & killed["mailed"], \
        twice - (killed["in_flight"] & killed["mailed"])
    assert all(n <= 2 for n in delivered.values())
    # Every acknowledged code went out.
    coded = Counter(r.channel_arn for r in rows if r.purpose == "ACTIVATION")
    assert all(coded[channel] >= 1 for channel in calls.codes)
    # Every acknowledged engagement: one page per stage, the second never early.
    by_id = {arn.rsplit("/", 1)[-1] for arn in calls.engagements}
    staged = db.rows(sa.select(engagements.c.engagement_id, engagement_tracks.c.escalation_stage,
                               sa.func.count(pages.c.id), sa.func.min(pages.c.created_at),
                               engagements.c.start_time)
                     .join(engagement_tracks, engagement_tracks.c.engagement_pk
                           == engagements.c.id)
                     .join(pages, pages.c.track_pk == engagement_tracks.c.id)
                     .group_by(engagements.c.engagement_id, engagement_tracks.c.escalation_stage,
                               engagements.c.start_time))
    per_engagement: dict[str, dict[int, int]] = {}
    for engagement_id, stage, count, created, start in staged:
        per_engagement.setdefault(engagement_id, {})[stage] = count
        if stage == 1:
            assert created >= start + STAGE_SECONDS, (engagement_id, created - start)
    assert by_id <= set(per_engagement), by_id - set(per_engagement)
    assert all(stages == {0: 1, 1: 1} for stages in per_engagement.values()), \
        {e: s for e, s in per_engagement.items() if s != {0: 1, 1: 1}}
    page_messages = Counter(r.page_arn for r in rows if r.purpose == "PAGE")
    assert len(page_messages) == 2 * len(per_engagement)
    assert set(page_messages.values()) == {1}
