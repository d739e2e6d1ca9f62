"""The delivery worker: sends what the outbox holds, retries what failed, records every attempt.

A message row is written in the transaction of the API call that made it
(``service.outbox.enqueue``), so it is durable once the call is acknowledged. This module
hands it to a transport afterwards:

1. **claim** the due rows (``PENDING``, ``next_attempt_at`` reached, no live claim) with a
   conditional ``UPDATE ... WHERE id IN (...) AND (claimed_until IS NULL OR claimed_until <
   lease)`` (the time claims are judged by, :func:`lease_time`), committed before anything is
   sent. On PostgreSQL the candidates are picked with
   ``FOR UPDATE SKIP LOCKED``, so several server processes on one database share the outbox
   without waiting on each other, and the conditional update makes a row go to one of them
   only;
2. **send** each claimed message outside any transaction, with the transport for its channel
   type;
3. **record** the attempt in ``delivery_attempts`` and the outcome on the row (the outcomes of
   a batch together, in one transaction at most :data:`RECORD_EVERY` apart): ``SENT`` with the
   provider's id, a retry after an exponential backoff with jitter (2 s, 4 s, 8 s ... at most
   5 minutes), or ``FAILED`` after the last attempt, on a permanent error, or when the row
   cannot be opened with this server's data keys.

A message whose row carries an expiry (``outbox.expires_at``: an activation message's code
expiry) is never handed to a transport once the runtime's clock has reached it, the clock
codes expire by: it is ``FAILED`` with :data:`EXPIRED_CODE`, recorded as an attempt like any
other outcome. Its retries are never scheduled past that expiry, so a message held back by a
failing provider is failed when its code expires rather than left ``PENDING``. A transport is
told the time left (``OutgoingMessage.expires_in``) from the same column, whichever process
sends it. A page message gets an expiry only when its person acknowledges or its engagement
stops while a worker holds it (``service.pages.cancel_pending``): the holder's outcome is
recorded as it is (a page that went out is ``SENT``), and a failed attempt is not tried again
(:data:`CANCELLED_PAGE`) and gets no ERROR receipt (``engine.runner.record_delivery``).

Delivery is at least once and never lost: a claim is a lease (:data:`CLAIM_SECONDS`), and a row
whose worker died before recording the outcome is taken again once the lease has run out. In
the normal case nothing is sent twice: only the holder of a live claim sends, and it records
the outcome within :data:`RECORD_EVERY` of the transport's answer, trying again for
:data:`RECORD_PATIENCE` when the database refuses it. (A crash inside that window, or a
database away for longer than that, is the one case in which a message is sent again: after
restart, or when its claim runs out. tests/durability/test_kill9.py kills servers to hold
this.)

A send may outlast a claim (a provider that answers slowly, each step within the transport's
timeout): while it is under way the worker's lease keeper renews the claim of the message in
hand (:class:`InHand`, :func:`renew_claim`, every :data:`RENEW_EVERY`), for at most
:data:`MAX_SEND_SECONDS`, so that nobody takes it for abandoned and sends it again.

A worker that died does not make its claims wait out the lease: the workers give back the
rows of holders that are gone (``engine.presence``: worker ids, presence locks,
``release_abandoned_claims``).

Due-ness is judged by the runtime's clock, so moving the inspection clock forward makes
retries due at once; claims are not (:func:`lease_time`): moving it never makes a live claim
look run out. On PostgreSQL claims are dated and judged by the database server's clock, one
clock for every host sharing the outbox, so a host whose clock runs ahead (skew, an NTP step)
does not take another host's live claims for run out.

**Hooks for other engines.** :data:`on_delivered` is an explicit registry of callbacks run
inside the transaction that records a final outcome (``SENT`` or ``FAILED``, not the retries
in between)::

    from incident_contacts.engine import delivery

    def record_receipt(conn: Connection, row: Row[Any], outcome: delivery.Outcome) -> None:
        if row.purpose == "PAGE":
            ...  # write a SENT or ERROR receipt for row.page_arn with conn

    delivery.on_delivered.append(record_receipt)

Each hook gets the open connection, the outbox row as it was claimed, and the
:class:`Outcome`. A hook that raises is logged and its writes are undone (it runs in a
savepoint); the outcome itself is kept, so a faulty hook never makes a message go out twice.
The hooks of a batch share one savepoint; when one raises, that savepoint is undone and each
hook runs again in its own, so a hook must keep its effects to the connection's writes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from incident_contacts.crypto import DecryptError
from incident_contacts.delivery.base import (
    DeliveryError,
    DeliveryResult,
    OutgoingMessage,
    Transport,
)
from incident_contacts.engine import legacy_texts
from incident_contacts.engine.background import BackgroundLoop
from incident_contacts.engine.leases import CLAIM_SECONDS, lease_time
from incident_contacts.engine.presence import (
    LIVENESS_SECONDS,
    Presence,
    new_worker_id,
    release_abandoned_claims,
)
from incident_contacts.service import outbox as outbox_messages
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.delivery import delivery_attempts, outbox

if TYPE_CHECKING:
    from incident_contacts.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_BATCH = 100

RECORD_EVERY = 0.05
"""Outcomes are recorded together, in one transaction, at most this many seconds apart (and
at the end of each batch): a commit costs more than handing a message to most transports."""

RECORD_PATIENCE = 10.0
"""How long a worker keeps trying to record outcomes the database refused (a lost connection,
a database restarting, a lock held too long), with a growing pause between tries, before it
gives up and leaves the rows to their claims. Messages that went out are sent again only if
their outcome cannot be recorded before the claim runs out; well inside it (the worker starts
no send past half of its claim)."""

RENEW_EVERY = CLAIM_SECONDS / 4
"""How often a worker's lease keeper renews the claim of the message it is sending. A send
starts at most half a claim after the claim was taken, so its claim has a quarter left at
the first renewal."""

MAX_SEND_SECONDS = 600.0
"""How long the claim of one message is kept alive while its send is under way; past that
the send is taken for hung, and the claim left to run out (the message is then taken again:
a send that does end after all makes it go out twice)."""


class InHand:
    """The message a worker is handing to its provider now (its row id, and since when), read
    by the worker's lease keeper on another thread."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: tuple[int, float] | None = None

    def take(self, row_id: int) -> None:
        self.current = (row_id, time.monotonic())

    def drop(self) -> None:
        self.current = None


_RENEW = Prepared(outbox.update().where(
    outbox.c.id == sa.bindparam("mid"),
    # Still this worker's: nobody took it (a taker writes its own id) or gave it back.
    outbox.c.claimed_by == sa.bindparam("worker"),
    outbox.c.status == "PENDING",
).values(claimed_until=sa.bindparam("until")))


def renew_claim(runtime: Runtime, worker_id: str, in_hand: InHand) -> bool:
    """Renew the claim on the message in hand for another :data:`CLAIM_SECONDS`, unless its
    send has been under way for more than :data:`MAX_SEND_SECONDS`; whether it was renewed."""
    current = in_hand.current
    if current is None:
        return False
    row_id, since = current
    if time.monotonic() - since > MAX_SEND_SECONDS:
        return False
    with runtime.store.transaction() as conn:
        until = lease_time(runtime, conn) + CLAIM_SECONDS
        return bool(_RENEW.execute(conn, {"mid": row_id, "worker": worker_id, "until": until}))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2**(n-1)`` seconds before attempt ``n + 1``,
    scattered by ``±jitter`` of itself and never more than ``cap``; ``FAILED`` after
    ``max_attempts`` attempts. A provider's ``Retry-After`` is honoured when it is longer
    (up to ``cap``)."""

    base: float = 2.0
    cap: float = 300.0
    max_attempts: int = 8
    jitter: float = 0.2

    def delay(self, attempts_made: int, rng: random.Random,
              retry_after: float | None = None) -> float:
        nominal = min(self.cap, self.base * 2.0 ** min(64, max(0, attempts_made - 1)))
        spread = nominal * self.jitter
        delay = min(self.cap, nominal + rng.uniform(-spread, spread))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return max(delay, 0.001)


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt.

    ``status`` is ``SENT``, ``RETRY`` or ``FAILED``; ``result`` the provider's answer when sent;
    ``error`` the reason it was not; ``attempt`` counts from 1; ``at`` is when it was recorded.
    """

    status: str
    attempt: int
    at: float
    result: DeliveryResult | None = None
    error: str | None = None
    next_attempt_at: float | None = None


DeliveredHook = Callable[[Connection, Row[Any], Outcome], None]

on_delivered: list[DeliveredHook] = []
"""Run, in order, inside the transaction that records a ``SENT`` or ``FAILED`` outcome."""


# -- one round ----------------------------------------------------------------------------------


def deliver_due(runtime: Runtime, transports: Mapping[str, Transport], worker_id: str, *,
                limit: int = DEFAULT_BATCH, policy: RetryPolicy = DEFAULT_POLICY,
                rng: random.Random | None = None,
                hooks: list[DeliveredHook] | None = None,
                stopping: threading.Event | None = None, peek: bool = True,
                observe: Callable[[str, str], None] | None = None,
                in_hand: InHand | None = None) -> int:
    """Claim up to ``limit`` due messages, send each, record the outcomes.

    Returns how many messages were claimed; 0 when nothing was due. Never raises for a
    message that cannot be sent: that is an outcome to record. ``peek=False`` skips the read
    that spares an idle poll the write lock, when work is known to be waiting. ``hooks`` replaces
    :data:`on_delivered` for this call; ``observe(channel_type, outcome)`` hears of every
    attempt once it is recorded (metrics); when ``stopping`` is set, or the batch runs past half
    of its claim, the messages not yet sent are given back for the next round or worker.
    ``in_hand`` is told which message is being sent, for a lease keeper (:func:`renew_claim`).
    """
    rng = rng or random.Random()
    run_hooks = on_delivered if hooks is None else hooks
    claimed_at = time.monotonic()
    rows = _claim(runtime, worker_id, limit, peek=peek)
    done: list[_Attempted] = []
    recorded_at = time.monotonic()
    try:
        for index, row in enumerate(rows):
            late = time.monotonic() - claimed_at > CLAIM_SECONDS / 2
            if late or (stopping is not None and stopping.is_set()):
                _release(runtime, worker_id, [r.id for r in rows[index:]])
                log.info("gave %d claimed messages back (%s)", len(rows) - index,
                         "the batch ran long" if late else "stopping")
                break
            if in_hand is not None:
                in_hand.take(row.id)
            try:
                done.append(_deliver_one(runtime, transports, row, policy, rng))
            finally:
                if in_hand is not None:
                    in_hand.drop()
            if time.monotonic() - recorded_at >= RECORD_EVERY:
                attempted, done = done, []
                _record_persistently(runtime, worker_id, attempted, run_hooks, observe)
                recorded_at = time.monotonic()
    finally:
        if done:
            _record_persistently(runtime, worker_id, done, run_hooks, observe)
    return len(rows)


def _record_persistently(runtime: Runtime, worker_id: str, attempts: list[_Attempted],
                         hooks: list[DeliveredHook],
                         observe: Callable[[str, str], None] | None) -> None:
    """:func:`_record`, tried again for up to :data:`RECORD_PATIENCE` seconds when the
    database refuses it. The messages were handed over already: an outcome left unrecorded
    would have them sent a second time once their claims run out. (A failed try leaves
    nothing behind: it was one transaction, rolled back. A try whose COMMIT landed though its
    answer was lost finds the rows settled on the next, and records only the attempts.)"""
    deadline = time.monotonic() + RECORD_PATIENCE
    pause = 0.05
    while True:
        try:
            _record(runtime, worker_id, attempts, hooks, observe)
            return
        except sa.exc.SQLAlchemyError:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("could not record the outcomes of %d messages; trying again in "
                        "%.2f s", len(attempts), pause, exc_info=True)
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def deliver_all_due(runtime: Runtime, transports: Mapping[str, Transport], worker_id: str,
                    *, policy: RetryPolicy = DEFAULT_POLICY,
                    rng: random.Random | None = None) -> int:
    """Run :func:`deliver_due` until nothing due is left; the in-process mock's step.

    It ends: every attempt either settles a message or moves it to a later time.
    """
    total = 0
    while True:
        count = deliver_due(runtime, transports, worker_id, policy=policy, rng=rng)
        total += count
        if count < DEFAULT_BATCH:
            return total


# Built once, run with parameters: the worker runs these for every message.
_DUE = sa.and_(
    outbox.c.status == "PENDING",
    outbox.c.next_attempt_at <= sa.bindparam("now"),
    sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < sa.bindparam("lease")),
)
_PICK = sa.select(outbox.c.id).where(_DUE).order_by(outbox.c.next_attempt_at, outbox.c.id) \
    .limit(sa.bindparam("limit"))
_PICK_SKIP_LOCKED = _PICK.with_for_update(skip_locked=True)
_CLAIM = outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)), _DUE) \
    .values(claimed_by=sa.bindparam("worker"), claimed_until=sa.bindparam("until")) \
    .returning(*outbox.c)
_RELEASE = outbox.update().where(
    outbox.c.id.in_(sa.bindparam("ids", expanding=True)),
    outbox.c.claimed_by == sa.bindparam("worker"),
    outbox.c.status == "PENDING",
).values(claimed_by=None, claimed_until=None)
_RECORD_ATTEMPT = insert_of(delivery_attempts, "message_pk", "attempt", "started_at", "outcome",
                            "detail", "worker")


def _settle_statement(*columns: str, **expressions: Any) -> Prepared:
    """Settle a row this worker holds: the attempt count, the error, ``columns`` and
    ``expressions``."""
    return Prepared(outbox.update().where(
        outbox.c.id == sa.bindparam("mid"),
        outbox.c.claimed_by == sa.bindparam("holder"),
        outbox.c.status == "PENDING",
    ).values({**{name: sa.bindparam(name) for name in
                 ("attempts", "claimed_by", "claimed_until", "last_error", *columns)},
              **expressions}))


# One statement per outcome, prepared: every message settles with one of them. A retry is
# due at the latest at the expiry the row holds now: one given while the worker held it (a
# page cancelled meanwhile, service.pages.cancel_pending) makes it due at once, to be failed.
_SETTLE = {
    "SENT": _settle_statement("status", "sent_at", "provider_message_id"),
    "RETRY": _settle_statement(next_attempt_at=sa.case(
        (outbox.c.expires_at < sa.bindparam("next_attempt_at"), outbox.c.expires_at),
        else_=sa.bindparam("next_attempt_at"))),
    "FAILED": _settle_statement("status"),
}


def _claim(runtime: Runtime, worker_id: str, limit: int, *,
           peek: bool = True) -> list[Row[Any]]:
    store = runtime.store
    now = runtime.clock.now()
    pick: dict[str, Any] = {"now": now, "limit": limit}
    if store.sqlite and peek:
        # Look before taking the write lock: an idle poll costs a read, not a write.
        pick["lease"] = lease_time(runtime)
        with store.transaction(write=False) as conn:
            if not conn.execute(_PICK, pick).first():
                return []
    with store.transaction() as conn:
        # On PostgreSQL a server reads the database's clock here: one statement a batch.
        lease = pick["lease"] = lease_time(runtime, conn)
        ids = list(conn.execute(_PICK if store.sqlite else _PICK_SKIP_LOCKED, pick).scalars())
        if not ids:
            return []
        claimed = conn.execute(_CLAIM, {"ids": ids, "now": now, "lease": lease,
                                        "worker": worker_id,
                                        "until": lease + CLAIM_SECONDS}).all()
    return sorted(claimed, key=lambda r: (r.next_attempt_at, r.id))


def _release(runtime: Runtime, worker_id: str, ids: list[int]) -> None:
    with runtime.store.transaction() as conn:
        conn.execute(_RELEASE, {"ids": ids, "worker": worker_id})


def outgoing_message(runtime: Runtime, row: Row[Any]) -> OutgoingMessage:
    """The message a transport gets; raises DecryptError when the row does not open."""

    def opened(column: str) -> str | None:
        return outbox_messages.open_column(runtime, row, column)

    return OutgoingMessage(
        message_id=row.message_id,
        channel_type=row.channel_type,
        address=opened("address") or "",
        subject=opened("subject"),
        body=opened("body") or "",
        speech=opened("speech"),
        purpose=row.purpose,
        expires_in=_expires_in(runtime, row),
    )


def _expires_in(runtime: Runtime, row: Row[Any]) -> float | None:
    """The seconds the message is still worth delivering: until the expiry its row carries
    (an activation message's code expiry); for an activation message queued before rows
    carried one (migration 0012), until its code would expire by this process's code
    lifetime, as before."""
    if row.expires_at is not None:
        expires_at: float = row.expires_at
    elif row.purpose == "ACTIVATION":
        expires_at = row.created_at + runtime.settings.activation_code_ttl
    else:
        return None
    return expires_at - runtime.clock.now()


EXPIRED_CODE = "the activation code expired before it could be sent"
"""``last_error`` of an activation message the worker did not send because its code had
expired."""


CANCELLED_PAGE = ("not sent: the page was acknowledged, or its engagement stopped, while a "
                  "delivery worker held its message")
"""``last_error`` of a page message a worker held (was sending, or had claimed) when its
person acknowledged a page or its engagement stopped, and that did not go out then: it is
not tried again."""


def expired(row: Row[Any], now: float) -> str | None:
    """Why ``row`` must not be sent at ``now``, or None: its expiry has come (for an
    activation message, its code's; ``now >= expires_at`` is expired, as
    ActivateContactChannel judges a code, by the same runtime clock). Rows without an expiry
    (pages not cancelled, rows older than migration 0012) never expire here."""
    if row.expires_at is None or now < row.expires_at:
        return None
    if row.purpose == "ACTIVATION":
        return EXPIRED_CODE
    if row.purpose == "PAGE":
        # Only a cancel gives a page an expiry (service.pages.cancel_pending).
        return CANCELLED_PAGE
    return "the message expired before it could be sent"


def scrub(text: str, address: str) -> str:
    """A provider's error text without the address it names: the text is stored in plain
    (``last_error``, attempts, ERROR receipts) and an address is personal data, which is only
    ever stored sealed. The address goes in any case (an SMTP server may echo it in capitals),
    without a phone number's plus sign and percent-encoded, and so does anything else shaped
    like an address or a phone number: the same rule that scrubbed older releases' texts."""
    return legacy_texts.scrub_text(text, [address])


def _attempt(transports: Mapping[str, Transport], message: OutgoingMessage
             ) -> tuple[DeliveryResult | None, str | None, bool, float | None]:
    """(result, error, retryable, retry_after) of one send; the error never names the address."""
    result, error, retryable, retry_after = _send(transports, message)
    return result, None if error is None else scrub(error, message.address), retryable, \
        retry_after


def _send(transports: Mapping[str, Transport], message: OutgoingMessage
          ) -> tuple[DeliveryResult | None, str | None, bool, float | None]:
    transport = transports.get(message.channel_type)
    if transport is None:
        return None, f"no transport is configured for {message.channel_type}", False, None
    try:
        return transport.send(message), None, False, None
    except DeliveryError as exc:
        return None, exc.reason, exc.retryable, exc.retry_after
    except Exception as exc:
        # A transport's own bug: retry (the attempts are counted, so it ends), and say so.
        log.exception("transport for %s raised unexpectedly", message.channel_type)
        return None, f"unexpected {type(exc).__name__}: {exc}", True, None


@dataclass(frozen=True)
class _Attempted:
    row: Row[Any]
    started: float
    outcome: Outcome


def _deliver_one(runtime: Runtime, transports: Mapping[str, Transport], row: Row[Any],
                 policy: RetryPolicy, rng: random.Random) -> _Attempted:
    started = runtime.clock.now()
    attempt = row.attempts + 1
    result: DeliveryResult | None = None
    retry_after: float | None = None
    too_late = expired(row, started)
    if too_late is not None:
        # Never handed to a transport: a code that cannot work would only mislead its reader.
        return _Attempted(row, started, Outcome("FAILED", attempt, started, error=too_late))
    try:
        message = outgoing_message(runtime, row)
    except DecryptError:
        error: str | None = ("the message could not be decrypted with this server's data keys "
                             "(INCIDENT_CONTACTS_DATA_KEY / _OLD_DATA_KEYS)")
        retryable = False
    else:
        result, error, retryable, retry_after = _attempt(transports, message)
    now = runtime.clock.now()
    if result is not None:
        outcome = Outcome("SENT", attempt, now, result=result)
    elif retryable and attempt < policy.max_attempts:
        next_attempt_at = now + policy.delay(attempt, rng, retry_after)
        if row.expires_at is not None:
            # Due again at the latest when it expires, so it is failed then rather than left
            # PENDING past its expiry until a long backoff runs out.
            next_attempt_at = min(next_attempt_at, max(now, row.expires_at))
        outcome = Outcome("RETRY", attempt, now, error=error, next_attempt_at=next_attempt_at)
    else:
        if retryable:
            error = f"gave up after {attempt} attempts: {error}"
        outcome = Outcome("FAILED", attempt, now, error=error)
    return _Attempted(row, started, outcome)


def _record(runtime: Runtime, worker_id: str, attempts: list[_Attempted],
            hooks: list[DeliveredHook],
            observe: Callable[[str, str], None] | None = None) -> None:
    """Record the outcomes of several attempts in one transaction."""
    with runtime.store.transaction() as conn:
        records, final = [], []
        for attempted in attempts:
            record, settled = _settle(conn, worker_id, attempted)
            records.append(record)
            if settled and attempted.outcome.status != "RETRY":
                final.append(attempted)
        if hooks and final:
            _run_hooks(conn, final, hooks)
        _RECORD_ATTEMPT.execute_many(conn, records)
    for attempted in attempts:
        row, outcome = attempted.row, attempted.outcome
        if observe is not None:
            observe(row.channel_type, outcome.status)
        if outcome.status == "SENT":
            log.debug("message %s sent (attempt %d)", row.message_id, outcome.attempt)
        else:
            log.info("message %s: %s after attempt %d: %s", row.message_id, outcome.status,
                     outcome.attempt, outcome.error)


def _run_hooks(conn: Connection, final: list[_Attempted], hooks: list[DeliveredHook]) -> None:
    """The hooks of each final outcome, all in one savepoint (a savepoint costs more than a
    hook's writes); when one raises, that savepoint is undone and every hook runs again in a
    savepoint of its own, so only the faulty hook's writes are lost."""
    try:
        with conn.begin_nested():
            for attempted in final:
                for hook in hooks:
                    hook(conn, attempted.row, attempted.outcome)
        return
    except Exception:
        pass
    for attempted in final:
        for hook in hooks:
            try:
                with conn.begin_nested():
                    hook(conn, attempted.row, attempted.outcome)
            except Exception:
                log.exception("delivery hook %r failed for message %s", hook,
                              attempted.row.message_id)


def _settle(conn: Connection, worker_id: str,
            attempted: _Attempted) -> tuple[dict[str, Any], bool]:
    """Settle the message row; returns the attempt's record to insert, and whether the row
    was still this worker's to settle."""
    row, outcome = attempted.row, attempted.outcome
    values: dict[str, Any] = {
        "attempts": outcome.attempt,
        "claimed_by": None,
        "claimed_until": None,
        "last_error": outcome.error,
    }
    if outcome.status == "SENT":
        assert outcome.result is not None
        values.update(status="SENT", sent_at=outcome.at,
                      provider_message_id=outcome.result.provider_message_id[:256])
    elif outcome.status == "RETRY":
        values.update(next_attempt_at=outcome.next_attempt_at)
    else:
        values.update(status="FAILED")
    updated = _SETTLE[outcome.status].execute(conn, {"mid": row.id, "holder": worker_id,
                                                     **values})
    detail = outcome.error if outcome.result is None else outcome.result.provider_message_id
    if not updated:
        # The claim ran out and another worker took the row: it owns the outcome now.
        log.warning("message %s: claim lost before the outcome was recorded", row.message_id)
        detail = f"claim lost; not recorded on the message: {detail}"
    return {
        "message_pk": row.id,
        "attempt": outcome.attempt,
        "started_at": attempted.started,
        "outcome": outcome.status,
        "detail": detail,
        "worker": worker_id[:64],
    }, bool(updated)


# -- the background worker -------------------------------------------------------------------


class DeliveryWorker(BackgroundLoop):
    """Runs :func:`deliver_due` on a thread: at once when woken (``runtime.wake_delivery``,
    called after a transaction that queued a message commits), and every ``poll_interval``
    seconds for retries and for messages other processes queued.

    On start it resumes whatever is pending in the database, including rows a crashed process
    had claimed (:func:`release_abandoned_claims`), and it looks again for claims of workers
    that are gone every :data:`LIVENESS_SECONDS`. It holds its :class:`Presence` lock (a lock
    file beside a SQLite database, an advisory lock on PostgreSQL) from start to stop, and a
    lease keeper thread renews the claim of the message it is sending every ``renew_every``
    seconds (:func:`renew_claim`).
    """

    thread_name = "delivery-worker"

    def __init__(self, runtime: Runtime, transports: Mapping[str, Transport], *,
                 worker_id: str | None = None, poll_interval: float = 1.0,
                 batch: int = DEFAULT_BATCH, policy: RetryPolicy = DEFAULT_POLICY,
                 gather: float = 0.02, liveness_interval: float = LIVENESS_SECONDS,
                 observe: Callable[[str, str], None] | None = None,
                 renew_every: float = RENEW_EVERY) -> None:
        super().__init__(runtime, poll_interval=poll_interval, batch=batch, gather=gather)
        self.observe = observe
        self.transports = dict(transports)
        self.worker_id = worker_id or new_worker_id()
        self.policy = policy
        self._rng = random.Random()
        self.presence = Presence(runtime, self.worker_id)
        self.liveness_interval = liveness_interval
        self._liveness_at = 0.0
        self.in_hand = InHand()
        self.renew_every = renew_every
        self._keeper: threading.Thread | None = None
        self._keeper_stopping = threading.Event()

    def start(self) -> None:
        # Announced before the first claim: until then, another worker could take our claims
        # for a dead worker's.
        self.presence.announce()
        self._look_for_the_gone()
        super().start()
        if self._keeper is None:
            self._keeper_stopping.clear()
            self._keeper = threading.Thread(target=self._keep_claims, daemon=True,
                                            name="delivery-lease-keeper")
            self._keeper.start()

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        # After the rounds: a send still under way keeps its claim until then.
        self._keeper_stopping.set()
        if self._keeper is not None:
            self._keeper.join(timeout)
            self._keeper = None
        self.presence.close()

    def _keep_claims(self) -> None:
        while not self._keeper_stopping.wait(self.renew_every):
            if self.in_hand.current is None:
                continue
            try:
                renew_claim(self.runtime, self.worker_id, self.in_hand)
            except Exception:   # the claim then runs out as it would have
                log.exception("could not renew the claim of the message being sent")

    def _look_for_the_gone(self) -> None:
        self._liveness_at = time.monotonic()
        try:
            self.presence.keep()
            release_abandoned_claims(self.runtime, self.worker_id)
        except Exception:   # the claims then run out as they would have
            log.exception("could not give back the claims of delivery workers that are gone")

    def _round(self) -> int:
        if time.monotonic() - self._liveness_at >= self.liveness_interval:
            self._look_for_the_gone()
        return deliver_due(self.runtime, self.transports, self.worker_id, limit=self.batch,
                           policy=self.policy, rng=self._rng, stopping=self._stopping,
                           peek=not self.expecting_work, observe=self.observe,
                           in_hand=self.in_hand)


__all__ = [
    "CANCELLED_PAGE",
    "DEFAULT_POLICY",
    "EXPIRED_CODE",
    "MAX_SEND_SECONDS",
    "RECORD_PATIENCE",
    "RENEW_EVERY",
    "DeliveredHook",
    "DeliveryWorker",
    "InHand",
    "Outcome",
    "RetryPolicy",
    "deliver_all_due",
    "deliver_due",
    "expired",
    "on_delivered",
    "outgoing_message",
    "renew_claim",
]
