"""Limits on failed console sign-ins, kept in the database so that every server process on it
counts the same failures.

Three limits apply to every attempt, each a burst of failures and then one more every
``interval`` seconds (a failure is forgotten one interval after the ones before it are):

=========  ====================================  =====  ========  ===========================
limit      counts the failures of                burst  interval  stops
=========  ====================================  =====  ========  ===========================
pair       one user name from one client address   5     60 s     guessing one account
address    one client address, any user name       30     20 s     trying many names (spraying)
name       one user name, from any address         20     60 s     guessing one account from
                                                                  many addresses
=========  ====================================  =====  ========  ===========================

Why these numbers: someone who mistypes their own secret five times waits a minute, and is
back to five tries after five quiet minutes; the others behind the same address (a NAT, a
proxy: a war room) are not held up by them, as each has a pair of their own, until thirty
failures in all from that address, which the whole room makes only together. An attacker at
one address gets 5 tries at a name and 30 across names, then 3 a minute; from many addresses,
20 tries at a name and then one a minute, about 1,400 a day, against a 40-character secret
access key. Alone, the name limit would let attackers who keep failing at a name from two
addresses or more keep its owner out for as long as they go on (each minute's one attempt
taken first), so it does not apply at a client address where the name signed in within the
last ``KNOWN_FOR`` (30 days): there the pair's limit, at the same rate, is what holds, and an
owner kept out elsewhere still signs in from where they usually do.

A user name is an access key id (with ``--auth sigv4``) or an account id (``--auth off``), as
typed, whether or not it exists: the answer, the limits and the wait are the same for a name
that does not exist, so they tell nothing about which do. A client address is grouped by its
/64 network when it is IPv6 (a host there has a whole network). The database holds a keyed
hash (HMAC-SHA256 under the console's secret) of each limited key, never the name or address.

An attempt is counted before its credentials are looked at, by conditional updates that take
it from all three limits in one transaction (or from none, when one is used up), so attempts
sent together, to any server process, cannot have more credentials looked at than the limits
hold; one that succeeds is given back, so successes never count. Each limit's state is one
time per key (when its failures are forgotten: the generic cell rate algorithm), and a row
past it is the same as no row, so housekeeping deletes those
(:func:`incident_contacts.engine.housekeeping.prune_sign_in_limits`): the table holds the keys
that failed in the last half hour at most, and a row per name and address that signed in
within ``KNOWN_FOR`` (its time, when it stops being known).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from incident_contacts import crypto
from incident_contacts.runtime import Runtime
from incident_contacts.store.schema.console import console_sign_in_limits as limits


@dataclass(frozen=True)
class Limit:
    scope: str
    burst: int          # failures allowed at once
    interval: float     # seconds after which one more is allowed (and one is forgotten)


PAIR = Limit("pair", 5, 60.0)
ADDRESS = Limit("address", 30, 20.0)
NAME = Limit("name", 20, 60.0)
LIMITS = (PAIR, ADDRESS, NAME)
"""In the order their rows are updated in, by every transaction (no deadlock on PostgreSQL)."""

KNOWN_FOR = 30 * 86400.0
"""How long a name stays exempt from its own limit at a client address it signed in from."""


class SignInRefused(Exception):
    """Too many failures: no attempt is counted, nothing is looked at."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    """An attempt counted against its keys, to be given back if it succeeds."""

    keys: tuple[tuple[Limit, str], ...]
    known: str          # the key of this name at this address, known once it signs in here


def network(address: str) -> str:
    """The client address a limit names: an IPv6 address's /64 network, an IPv4 address
    (also one mapped into IPv6) as it is; anything else (no address) as given."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class SignInLimits:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._insert = (postgresql.insert if runtime.store.engine.dialect.name == "postgresql"
                        else sqlite.insert)

    def _keys(self, address: str, name: str) -> tuple[tuple[Limit, str], ...]:
        secret = self.runtime.secret("console")
        where = network(address)
        parts = {PAIR: (where, name), ADDRESS: (where,), NAME: (name,)}
        return tuple((limit, crypto.keyed_hash(secret, "sign-in", limit.scope, *parts[limit]))
                     for limit in LIMITS)

    def _known(self, address: str, name: str) -> str:
        return crypto.keyed_hash(self.runtime.secret("console"), "sign-in", "known",
                                 network(address), name)

    def take(self, address: str, name: str) -> Attempt:
        """Count an attempt by ``name`` from ``address`` against every limit, or raise
        :class:`SignInRefused` (counting nothing) when one of them has no attempt left."""
        keys, known = self._keys(address, name), self._known(address, name)
        now = self.runtime.clock.now()
        # An attempt past a limit (most of a flood of them) is refused on a read: anyone may
        # send these, and a write transaction each would queue for the database's one write
        # lock (SQLite) ahead of the API's writes.
        found = self._read([*(key for _, key in keys), known])
        if found.get(known, now) > now:
            # Where the name signed in before, its own limit does not apply: anyone failing
            # at it elsewhere, once a second, would otherwise keep its owner out for good
            # (an attempt a minute, taken first). The pair's limit still does.
            keys = tuple((limit, key) for limit, key in keys if limit is not NAME)
        wait = max((found[key] - (now + (limit.burst - 1) * limit.interval)
                    for limit, key in keys if key in found), default=0.0)
        if wait > 0:
            raise SignInRefused(max(1, math.ceil(wait)))
        with self.runtime.store.transaction() as conn:
            waits = [self._take(conn, limit, key, now) for limit, key in keys]
            if any(wait > 0 for wait in waits):
                raise SignInRefused(max(1, math.ceil(max(waits))))   # rolls the rest back
        return Attempt(keys, known)

    def _read(self, keys: list[str]) -> dict[str, float]:
        """The rows of ``keys`` as last committed: key -> ``clear_at``."""
        with self.runtime.store.transaction(write=False) as conn:
            return {key: float(clear_at) for key, clear_at in conn.execute(
                sa.select(limits.c.key_hash, limits.c.clear_at)
                .where(limits.c.key_hash.in_(keys)))}

    def _take(self, conn: Connection, limit: Limit, key: str, now: float) -> float:
        """Count one failure against ``key``: 0 when counted, else the seconds until one may be."""
        allowed = now + (limit.burst - 1) * limit.interval
        moved = (limits.update()
                 .where(limits.c.key_hash == key, limits.c.clear_at <= allowed)
                 .values(clear_at=sa.case((limits.c.clear_at > now, limits.c.clear_at),
                                          else_=now) + limit.interval))
        if conn.execute(moved).rowcount:
            return 0.0
        # No row (none yet, or housekeeping deleted it: it held nothing), or one at its limit.
        # An empty row is made unless one exists (another attempt's, meanwhile), and updated as
        # any other. (Not the INSERT's rowcount: through this store on PostgreSQL it is -1.)
        conn.execute(self._insert(limits).values(key_hash=key, clear_at=now)
                     .on_conflict_do_nothing(index_elements=["key_hash"]))
        if conn.execute(moved).rowcount:
            return 0.0
        clear_at = conn.execute(sa.select(limits.c.clear_at)
                                .where(limits.c.key_hash == key)).scalar()
        return max(float(clear_at if clear_at is not None else now) - allowed, 1e-9)

    def give_back(self, attempt: Attempt) -> None:
        """An attempt that succeeded: it counts for nothing. Only what it took is given back,
        so a success does not renew the failures left to anyone else at the same keys."""
        known_until = self.runtime.clock.now() + KNOWN_FOR
        with self.runtime.store.transaction() as conn:
            for limit, key in attempt.keys:
                conn.execute(limits.update().where(limits.c.key_hash == key)
                             .values(clear_at=limits.c.clear_at - limit.interval))
            # Last, after the limits' rows (the order every transaction takes rows in). Its
            # row is deleted by housekeeping once it is past, as the limits' rows are.
            conn.execute(self._insert(limits).values(key_hash=attempt.known,
                                                     clear_at=known_until)
                         .on_conflict_do_update(index_elements=["key_hash"],
                                                set_={"clear_at": known_until}))


__all__ = ["ADDRESS", "LIMITS", "NAME", "PAIR", "Attempt", "Limit", "SignInLimits",
           "SignInRefused", "network"]
