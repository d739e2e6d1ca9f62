"""ListContacts: a page costs the same over 1,000,000 contacts as over 1,000.

    python bench/bench_list_contacts.py [--large 1000000] [--small 1000] [--rounds 5]

For each size, a SQLite file is made by the server's migrations
(``Store(url).migrate()``) and filled with that many contacts of one account by SQLAlchemy
``executemany``, each display name sealed with the data key as the service stores it (a page
opens its hundred names); aliases are ``<team>-<number>`` over eight teams, so an
``AliasPrefix`` of one team matches an eighth of them. Then, in process, through the
Dispatcher the server uses (no HTTP; its read cache off, so every call runs the query), three
requests are timed, each a page of ``MaxResults`` 100:

* first page           no token;
* middle page          the ``NextToken`` that ends the page holding the middle contact,
                       found by paging there with the API (``MaxResults`` up to 1024);
* prefix               ``AliasPrefix`` of one team.

Each round times ``--calls`` calls of each request on each size, the sizes in turn, in CPU
time of this process; the medians of the rounds (per call) and the large/small ratios are
printed. Target: every ratio
at most 1.5. Filling a million rows takes a minute or so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from incident_contacts import crypto
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import SystemClock
from incident_contacts.config import Settings
from incident_contacts.server import build_dispatcher, build_runtime
from incident_contacts.service.contacts import seal_display_name
from incident_contacts.store.db import Store
from incident_contacts.store.schema.core import contacts

ACCOUNT = "123456789012"
REGION = "us-east-1"
TEAMS = ("app", "data", "edge", "infra", "mobile", "net", "sec", "sre")
PAGE = 100
HEADERS = {
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": "SSMContacts.ListContacts",
    "authorization": (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20240101/{REGION}/ssm-contacts/"
                      "aws4_request, SignedHeaders=host, Signature=" + "0" * 64),
}


def alias(number: int) -> str:
    return f"{TEAMS[number % len(TEAMS)]}-{number:07d}"


def fill(url: str, count: int, keyring: crypto.KeyRing, batch: int = 50_000) -> float:
    """``count`` contacts by executemany into a freshly migrated database, their names
    sealed under ``keyring``; seconds taken."""
    start = time.perf_counter()
    store = Store(url)
    store.migrate()
    plan = orjson.dumps({"Stages": []}).decode()
    now = time.time()
    with store.engine.begin() as conn:
        for first in range(0, count, batch):
            conn.execute(contacts.insert(), [
                {"account": ACCOUNT, "region": REGION, "alias": alias(n), "type": "PERSONAL",
                 "display_name": seal_display_name(keyring, ACCOUNT, REGION, alias(n),
                                                   f"Person {n}"),
                 "plan": plan, "created_at": now}
                for n in range(first, min(count, first + batch))
            ])
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    store.dispose()
    return time.perf_counter() - start


def call(dispatcher: Dispatcher, params: dict[str, Any]) -> dict[str, Any]:
    response = dispatcher.handle("POST", "/", HEADERS, orjson.dumps(params))
    if response.status != 200:
        raise RuntimeError(f"ListContacts {params}: {response.status} {response.body!r}")
    result: dict[str, Any] = orjson.loads(response.body)
    return result


def middle_token(dispatcher: Dispatcher, count: int) -> str:
    """The token that ends the page holding the middle contact in alias order."""
    step = min(1024, count // 4)
    seen, token = 0, None
    while True:
        page = call(dispatcher, {"MaxResults": step, **({"NextToken": token} if token else {})})
        seen += len(page["Contacts"])
        token = page["NextToken"]
        if seen >= count // 2:
            return str(token)


class Subject:
    """One database and the three requests against it."""

    def __init__(self, folder: Path, count: int) -> None:
        self.count = count
        url = f"sqlite:///{folder / f'contacts-{count}.db'}"
        key = crypto.new_key()
        seconds = fill(url, count, crypto.KeyRing(key))
        print(f"  filled {count:,} contacts in {seconds:.1f} s", flush=True)
        # The read cache off: the same page asked again would come from memory, and what is
        # measured here is the query.
        self.runtime = build_runtime(Settings(database=url, throttle_rate=0, workers=False,
                                              read_cache=0, data_key=crypto.encode_key(key)),
                                     SystemClock())
        self.dispatcher = build_dispatcher(self.runtime)
        token = middle_token(self.dispatcher, count)
        self.requests: dict[str, dict[str, Any]] = {
            "first page": {"MaxResults": PAGE},
            "middle page": {"MaxResults": PAGE, "NextToken": token},
            "prefix": {"MaxResults": PAGE, "AliasPrefix": "sre-"},
        }
        for name, params in self.requests.items():
            page = call(self.dispatcher, params)
            if len(page["Contacts"]) != PAGE or "NextToken" not in page:
                raise RuntimeError(f"{name} over {count}: not a full page")
        middle = call(self.dispatcher, self.requests["middle page"])["Contacts"][0]["Alias"]
        print(f"  middle page over {count:,} starts at {middle}", flush=True)

    def time(self, name: str, calls: int) -> float:
        """CPU milliseconds per call (this process's CPU time, which a busy machine does not
        inflate; the database is read on this thread, and a page not in memory costs its
        read, which is CPU time too)."""
        params = self.requests[name]
        start = time.process_time()
        for _ in range(calls):
            call(self.dispatcher, params)
        return (time.process_time() - start) / calls * 1000

    def close(self) -> None:
        self.runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")
    if args.small <= PAGE * len(TEAMS):
        parser.error(f"--small must be over {PAGE * len(TEAMS)}, for a full prefix page")

    with tempfile.TemporaryDirectory(prefix="incident-contacts-bench-list-") as tmp:
        subjects = {size: Subject(Path(tmp), size) for size in (args.small, args.large)}
        timings: dict[tuple[str, int], list[float]] = {}
        try:
            for subject in subjects.values():         # warm-up
                for name in subject.requests:
                    subject.time(name, 5)
            for number in range(args.rounds):
                for name in ("first page", "middle page", "prefix"):
                    for size, subject in subjects.items():
                        timings.setdefault((name, size), []).append(
                            subject.time(name, args.calls))
                print(f"  round {number + 1}/{args.rounds} done", flush=True)
        finally:
            for subject in subjects.values():
                subject.close()

    print()
    print(f"{'CPU ms/call':<14} {args.small:>12,} {args.large:>12,}   ratio")
    met = True
    for name in ("first page", "middle page", "prefix"):
        small = statistics.median(timings[(name, args.small)])
        large = statistics.median(timings[(name, args.large)])
        ratio = large / small
        met = met and ratio <= 1.5
        print(f"{name:<14} {small:>12.2f} {large:>12.2f}   {ratio:5.2f}   target <= 1.5: "
              f"{'met' if ratio <= 1.5 else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
