"""The pieces of the kill -9 torture tests: a mail sink that counts deliveries per outbox
message, a stream of API calls from a few threads that notes what was acknowledged, the
kills themselves (with what the dead process held at that moment), and the final checks.

A delivery is known by its SMTP ``Message-ID``, ``<outbox message id@domain>``: the same on
every attempt of one message (``delivery.smtp``), so a second delivery of one message shows
as a second mail with the same id.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import boto3
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from incident_contacts.store.db import normalise_url
from incident_contacts.store.schema.delivery import outbox
from incident_contacts.store.schema.engagements import engagements, page_receipts, pages
from tests.engagements.helpers import wait_until
from tests.support.server import ServerProcess, restart

SMTP_DELAY = 0.01
"""How long the sink takes to answer a message it has already kept: a message handed over in
that time is in flight (kept by the provider, not yet recorded) if its sender dies then."""

CODES_PER_CHANNEL = 4
"""Below the send quota (5 an hour per channel), unanswered calls included."""


def data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message as its data arrives, then answers after
    :data:`SMTP_DELAY`, as a provider whose answer is still on its way would."""

    ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = email.message_from_bytes(envelope.original_content or b"",
                                        policy=email.policy.default)
        header = str(mail["Message-ID"] or "")
        with self.lock:
            self.ids.append(header.strip().strip("<>").split("@")[0])
        await asyncio.sleep(SMTP_DELAY)
        return "250 Message accepted for delivery"

    def per_message(self) -> Counter[str]:
        with self.lock:
            return Counter(self.ids)

    def count(self) -> int:
        with self.lock:
            return len(self.ids)


class Database:
    """The server's database, read directly (what the API does not show)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(normalise_url(url))

    def rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def scalar(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def close(self) -> None:
        self.engine.dispose()

    def claims_of(self, pid: int) -> set[str]:
        """Messages PENDING under a claim of a delivery worker of process ``pid``
        (worker ids are ``host:pid:...``)."""
        rows = self.rows(sa.select(outbox.c.message_id, outbox.c.claimed_by).where(
            outbox.c.status == "PENDING", outbox.c.claimed_by.is_not(None)))
        return {message for message, holder in rows if holder.split(":")[1] == str(pid)}

    def unsettled(self) -> int:
        """Outbox rows not yet SENT."""
        return int(self.scalar(sa.select(sa.func.count()).select_from(outbox)
                               .where(outbox.c.status != "SENT")))

    def unpaged(self) -> int:
        """Engagements without a page yet (their engine step has not run)."""
        return int(self.scalar(sa.select(sa.func.count()).select_from(engagements).where(
            ~sa.exists().where(pages.c.engagement_pk == engagements.c.id))))


def client(url: str, account: str) -> Any:
    return boto3.client("ssm-contacts", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id=account, aws_secret_access_key="secret",
                        # One attempt in all: botocore's "max_attempts" counts the retries
                        # only, and a retry would be a call the test did not count.
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                      connect_timeout=2, read_timeout=15,
                                      max_pool_connections=4))


@dataclass
class Setup:
    persons: list[str]           # PERSONAL contacts, one activated EMAIL channel, one stage
    code_channels: list[str]     # deferred EMAIL channels, for SendActivationCode


def set_up(server: ServerProcess, account: str, *, persons: int, code_channels: int) -> Setup:
    api = client(server.url, account)
    people = []
    for index in range(persons):
        person = api.create_contact(Alias=f"person-{index}", Type="PERSONAL",
                                    Plan={"Stages": []})["ContactArn"]
        channel = api.create_contact_channel(
            ContactId=person, Name="mail", Type="EMAIL",
            DeliveryAddress={"SimpleAddress": f"person-{index}@example.com"},
        )["ContactChannelArn"]
        [message] = server.messages(channel)
        api.activate_contact_channel(ContactChannelId=channel,
                                     ActivationCode=message["ActivationCode"])
        api.update_contact(ContactId=person, Plan={"Stages": [{
            "DurationInMinutes": 0,
            "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel,
                                               "RetryIntervalInMinutes": 0}}]}]})
        people.append(person)
    holder = api.create_contact(Alias="codes", Type="PERSONAL",
                                Plan={"Stages": []})["ContactArn"]
    channels = [api.create_contact_channel(
        ContactId=holder, Name=f"code {index}", Type="EMAIL",
        DeliveryAddress={"SimpleAddress": f"code-{index}@example.com"}, DeferActivation=True,
    )["ContactChannelArn"] for index in range(code_channels)]
    return Setup(people, channels)


class Stream:
    """SendActivationCode and StartEngagement calls from a few threads, each sent to the first
    server that answers (a client behind a load balancer); notes what was acknowledged, and
    what was tried and not answered (it may or may not have been done)."""

    def __init__(self, servers: list[ServerProcess], account: str, setup: Setup,
                 rng: random.Random, *, threads: int = 3, pause: float = 0.02) -> None:
        self.servers = servers
        self.account = account
        self.setup = setup
        self.pause = pause
        self.lock = threading.Lock()
        slots = [c for c in setup.code_channels for _ in range(CODES_PER_CHANNEL)]
        rng.shuffle(slots)
        self.slots = slots
        self.seeds = [rng.randrange(2**32) for _ in range(threads)]
        self.engagements: list[str] = []
        self.tokens: dict[str, list[str]] = defaultdict(list)   # token -> answers
        self.codes: Counter[str] = Counter()          # acknowledged, per channel
        self.tried_codes: Counter[str] = Counter()    # acknowledged or not
        self.unanswered = 0
        self.refused: list[str] = []                  # errors the service answered
        self.stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(seed,), daemon=True)
                         for seed in self.seeds]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(30)
            assert not thread.is_alive(), "a client thread did not end"

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        clients = [client(s.url, self.account) for s in self.servers]
        engagement: dict[str, str] | None = None
        deadline = None
        while True:
            if self.stopping.is_set():
                if engagement is None:
                    return
                # An engagement not yet answered is asked for again until it is (for a
                # while): the test then knows every engagement the database should hold.
                deadline = deadline or time.monotonic() + 20
                assert time.monotonic() < deadline, "an engagement was never answered"
            channel = None
            if engagement is None and rng.random() < 0.5:
                with self.lock:
                    channel = self.slots.pop() if self.slots else None
            if channel is None and engagement is None:
                engagement = {"ContactId": rng.choice(self.setup.persons),
                              "IdempotencyToken": f"torture-{rng.getrandbits(64):016x}"}
            order = list(range(len(clients)))
            rng.shuffle(order)
            for index in order:
                if self._call(clients[index], channel, engagement):
                    if channel is None:
                        engagement = None
                    break
            else:
                time.sleep(0.05)      # nobody answers: the servers are down
            time.sleep(rng.uniform(0, 2 * self.pause))

    def _call(self, api: Any, channel: str | None, engagement: dict[str, str] | None) -> bool:
        """One call; True when the server answered it. An engagement unanswered is asked for
        again with the same idempotency token."""
        try:
            if channel is None:
                assert engagement is not None
                arn = api.start_engagement(**engagement, Sender="torture",
                                           Subject="torture", Content="kill -9")
                with self.lock:
                    self.engagements.append(arn["EngagementArn"])
                    self.tokens[engagement["IdempotencyToken"]].append(arn["EngagementArn"])
            else:
                with self.lock:
                    self.tried_codes[channel] += 1
                api.send_activation_code(ContactChannelId=channel)
                with self.lock:
                    self.codes[channel] += 1
            return True
        except BotoCoreError:
            with self.lock:
                self.unanswered += 1
            return False
        except ClientError as exc:     # an answer, but not a success: reported by the test
            with self.lock:
                self.refused.append(str(exc))
            return True


@dataclass
class Kill:
    pids: list[int]
    in_flight: set[str]       # claimed by a dead process, not settled, when it died
    mailed: set[str]          # every message the sink had seen by then

    @property
    def suspects(self) -> set[str]:
        """Messages that may be delivered twice: handed to the sink by a dead process and
        not recorded as sent."""
        return self.in_flight & self.mailed


def kill(victims: list[ServerProcess], db: Database, mailbox: Mailbox,
         survivors: tuple[ServerProcess, ...] = ()) -> Kill:
    """``kill -9`` of each of ``victims``. ``survivors`` are paused (SIGSTOP) meanwhile, so
    that what the victims held when they died is read before anyone can give it back."""
    for other in survivors:
        other.process.send_signal(signal.SIGSTOP)
    try:
        for victim in victims:
            victim.process.send_signal(signal.SIGKILL)
        for victim in victims:
            victim.process.wait(15)
        # Their sessions end with them; on PostgreSQL a COMMIT already sent may still land.
        time.sleep(0.05)
        in_flight: set[str] = set()
        for victim in victims:
            in_flight |= db.claims_of(victim.process.pid)
        mailed = set(mailbox.per_message())
    finally:
        for other in survivors:
            other.process.send_signal(signal.SIGCONT)
    return Kill([v.process.pid for v in victims], in_flight, mailed)


def revive(servers: list[ServerProcess], index: int) -> float:
    """Start ``servers[index]`` again, in place (the stream's threads keep their clients: the
    URL is the same); the seconds until it answered its health check."""
    began = time.monotonic()
    servers[index] = restart(servers[index])
    return time.monotonic() - began


@dataclass
class Report:
    kills: int
    engagements: int
    codes: int
    unanswered: int
    messages: int
    mails: int
    duplicates: int
    suspects: int
    in_flight: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)

    def line(self, name: str) -> str:
        phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in self.phases.items())
        return (f"\n{name}: {self.kills} processes killed; {self.engagements} engagements and "
                f"{self.codes} codes acknowledged, {self.unanswered} attempts unanswered; "
                f"{self.messages} messages, {self.mails} mails; {self.in_flight} claimed by a "
                f"killed process, {self.suspects} of them already handed to the sink, "
                f"{self.duplicates} delivered twice; {self.seconds:.1f} s ({phases})")


def settle(db: Database) -> float:
    """Wait until every engagement has its page and every message is SENT; the seconds it
    took."""
    began = time.monotonic()
    wait_until(lambda: db.unpaged() == 0 and db.unsettled() == 0, timeout=30,
               message="every engagement paged and every message sent", interval=0.1)
    time.sleep(0.3)          # a send still under way would show now
    return time.monotonic() - began


def check(db: Database, mailbox: Mailbox, stream: Stream, kills: list[Kill],
          servers: list[ServerProcess], account: str, began: float) -> Report:
    """The promise: what was acknowledged is there and was delivered; a message went out
    twice only when a kill caught it between its hand-off and its record."""
    assert stream.refused == [], stream.refused[:5]
    rows = db.rows(sa.select(outbox.c.id, outbox.c.message_id, outbox.c.status,
                             outbox.c.purpose, outbox.c.channel_arn, outbox.c.page_arn))
    delivered = mailbox.per_message()

    # Every message queued (by an acknowledged call or not) was delivered; nothing else was.
    assert Counter(r.status for r in rows) == {"SENT": len(rows)}
    missing = {r.message_id for r in rows} - set(delivered)
    assert not missing, f"{len(missing)} messages never delivered"
    assert set(delivered) <= {r.message_id for r in rows}, "a mail names no message"

    # Twice only when a kill caught it in flight; never more than once per such kill.
    suspects: Counter[str] = Counter()
    for k in kills:
        suspects.update(k.suspects)
    twice = {m: n for m, n in delivered.items() if n > 1}
    unexplained = {m: n for m, n in twice.items() if n > 1 + suspects[m]}
    assert not unexplained, \
        f"{len(unexplained)} messages sent again with no kill to explain it, e.g. " \
        f"{sorted(unexplained.items())[:3]}"

    # Every acknowledged engagement exists and paged its person once.
    engaged = {arn.rsplit("/", 1)[-1] for arn in stream.engagements}
    stored = dict(db.rows(sa.select(engagements.c.engagement_id, sa.func.count(pages.c.id))
                          .join(pages, pages.c.engagement_pk == engagements.c.id, isouter=True)
                          .group_by(engagements.c.engagement_id)))
    assert engaged <= set(stored), f"{len(engaged - set(stored))} engagements lost"
    # Every engagement unanswered was asked for again with its token until answered: the
    # database holds exactly those answered, one per token, whatever a kill interrupted.
    assert set(stored) == engaged, f"{len(set(stored) - engaged)} engagements nobody was given"
    assert all(len(set(arns)) == 1 for arns in stream.tokens.values())
    assert len(stream.tokens) == len(engaged)
    assert set(stored.values()) <= {1}, Counter(stored.values())
    page_messages = Counter(r.page_arn for r in rows if r.purpose == "PAGE")
    assert len(page_messages) == len(stored) and set(page_messages.values()) <= {1}
    # ... and each page has one receipt, SENT, however often its message went out.
    receipts = db.rows(sa.select(pages.c.id, page_receipts.c.receipt_type)
                       .join(page_receipts, page_receipts.c.page_pk == pages.c.id,
                             isouter=True))
    assert Counter(kind for _page, kind in receipts) == {"SENT": len(stored)}
    assert len({page for page, _kind in receipts}) == len(stored)

    # Every acknowledged code has its message: as many as acknowledged, at most as many as
    # tried (an unanswered call may have been done).
    coded = Counter(r.channel_arn for r in rows if r.purpose == "ACTIVATION")
    for channel in stream.setup.code_channels:
        assert stream.codes[channel] <= coded[channel] <= stream.tried_codes[channel], \
            (channel, stream.codes[channel], coded[channel], stream.tried_codes[channel])
    # ... and the code of each channel's last message works: the code's record and the
    # server's hashing secret survived every kill.
    api = client(servers[0].url, account)
    latest: dict[str, str] = {}
    for message in servers[0].messages():
        if message["Purpose"] == "ACTIVATION" and message["ContactChannelArn"] in coded:
            latest[message["ContactChannelArn"]] = message["ActivationCode"]
    for channel, code in latest.items():
        api.activate_contact_channel(ContactChannelId=channel, ActivationCode=code)

    return Report(
        kills=sum(len(k.pids) for k in kills), engagements=len(stream.engagements),
        codes=sum(stream.codes.values()), unanswered=stream.unanswered, messages=len(rows),
        mails=mailbox.count(), duplicates=len(twice), suspects=len(set(suspects)),
        in_flight=sum(len(k.in_flight) for k in kills), seconds=time.monotonic() - began)
