"""A throwaway PostgreSQL cluster for the tests, or the one ``INCIDENT_CONTACTS_TEST_POSTGRES``
names.

The cluster is made with Debian's ``initdb`` in a temporary folder, listens on loopback on a
free port, and is stopped at the end of the session. As root, the server runs as the
``postgres`` user the Debian package creates (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import free_port


class PostgresUnavailable(Exception):
    pass


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"{name} not found (install Debian's postgresql package)")


def _as_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable("running as root and there is no postgres user") from exc
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def cluster() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a server that accepts new databases."""
    given = os.environ.get("INCIDENT_CONTACTS_TEST_POSTGRES")
    if given:
        yield given
        return
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    prefix = _as_user()
    root = Path(tempfile.mkdtemp(prefix="ic-pg-"))
    os.chmod(root, 0o777)
    data = root / "data"
    port = free_port()
    if prefix:
        shutil.chown(root, "postgres")
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
               "-c fsync=off -c max_connections=200")
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l",
                    str(root / "log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def new_database(base_url: str) -> str:
    """A fresh, empty database on the cluster; its URL."""
    import sqlalchemy as sa

    from incident_contacts.store.db import normalise_url

    name = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(normalise_url(base_url), isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                break
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name
