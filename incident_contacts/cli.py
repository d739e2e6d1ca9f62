"""The ``incident-contacts`` command: a thin layer mapping options onto :class:`Settings`."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from incident_contacts import __version__, secret_files
from incident_contacts.config import Settings, from_environ

if TYPE_CHECKING:
    from incident_contacts.auth.credentials import CredentialStore

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOG_FORMAT = click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text",
    envvar="INCIDENT_CONTACTS_LOG_FORMAT", show_default=True,
    help="text: a line per record; json: an object per line (time, level, logger, message, "
         "and an exception's traceback), for log collectors [env INCIDENT_CONTACTS_LOG_FORMAT].")


def _configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # uvicorn adds a copy of its message with terminal colours
            reserved_attrs=[*RESERVED_ATTRS, "color_message"]))
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # Alembic names each of its plugins at every start, at INFO; the migrations it runs stay.
    if level != "debug":
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _database_error(exc: Exception) -> str:
    """A database that cannot be opened, in one line: the URL's scheme unknown, its driver
    missing, or the server unreachable."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot open the database: {first}"


def _fail(message: str) -> NoReturn:
    click.echo(f"incident-contacts: {message}", err=True)
    sys.exit(2)


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here, before anything is made on disk: a host that names no
    address, or a port in use, is refused in one line (not by uvicorn after the start-up line,
    with a bare "Name or service not known"). Port 0 takes a free port, which the start-up
    line names. The address family is uvicorn's rule: IPv6 for a host with a colon."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, UnicodeError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot listen on {host[:100]!r} port {port} (--host, --port): "
                         f"{reason}") from None
    sock.set_inheritable(True)
    return sock


def _name_unsent(transports: Mapping[str, Any]) -> None:
    """Say which channel types have no provider: their messages are only recorded (the
    development outbox) and marked SENT, which a team paging for real must not miss."""
    from incident_contacts.delivery import RecordingTransport

    unsent = sorted(kind for kind, transport in transports.items()
                    if isinstance(transport, RecordingTransport))
    log = logging.getLogger("incident_contacts")
    if len(unsent) == len(transports):
        log.info("delivery: no provider is configured; every message is recorded in the "
                 "development outbox, not sent")
    elif unsent:
        log.warning("delivery: %s %s no provider: their messages are recorded in the "
                    "development outbox, not sent", ", ".join(unsent),
                    "has" if len(unsent) == 1 else "have")


def _check_auth(settings: Settings) -> CredentialStore | None:
    """Refuse --auth sigv4 without a readable, valid credentials file before anything is
    made on disk (a database, its key), and say so when a credentials file is given while
    authentication is off: it would verify nothing. The keys read are the ones the server
    uses: the file is read once, from the descriptor whose owner and mode were checked."""
    from incident_contacts.api import security

    security.check_settings(settings)
    if settings.auth == "sigv4":
        return security.load_credentials(settings, checked=True)
    if settings.credentials_file:
        logging.getLogger("incident_contacts").warning(
            "a credentials file is given (%s) but authentication is off: requests are not "
            "verified; add --auth sigv4 (INCIDENT_CONTACTS_AUTH=sigv4) to enforce it",
            settings.credentials_file)
    return None


def _shown_url(database: str) -> str:
    """The database URL as the log may show it: without its password."""
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(database).render_as_string(hide_password=True)
    except Exception:   # not a URL SQLAlchemy reads: it could not have been opened either
        return "(unreadable URL)"
    # libpq also takes the password as a query parameter
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", shown)


def _url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _announce(log_format: str, line: str) -> None:
    """The start-up line: on standard error as it is, or as a JSON log record."""
    if log_format == "json":
        logging.getLogger("incident_contacts").info(line)
    else:
        click.echo(line, err=True)


@click.group()
@click.version_option(__version__, prog_name="incident-contacts")
def main() -> None:
    """A self-hostable AWS Systems Manager Incident Manager Contacts (ssm-contacts)."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [env INCIDENT_CONTACTS_HOST; "
              "default 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port; 0 takes a free one, which the start-up line names [env "
                   "INCIDENT_CONTACTS_PORT; default 4575].")
@click.option("--database", default=None, metavar="URL",
              help="SQLAlchemy URL: sqlite:///file.db (default: incident-contacts.db here) or "
                   "postgresql://user@host/db [env INCIDENT_CONTACTS_DATABASE].")
@click.option("--inspection/--no-inspection", default=None,
              help="The development endpoints (sent messages, clock) [env "
                   "INCIDENT_CONTACTS_INSPECTION; default on with --auth off, off with "
                   "--auth sigv4].")
@click.option("--auth", type=click.Choice(["off", "sigv4"]), default=None,
              help="off: requests are not verified, the account is the 12-digit access key id "
                   "(development); sigv4: every request must be signed with a key of the "
                   "credentials file [env INCIDENT_CONTACTS_AUTH; default off].")
@click.option("--credentials", "credentials_file", default=None, metavar="FILE",
              help="TOML file of [[credentials]] (access_key_id, secret_access_key, "
                   "account_id, user, optional policy), for --auth sigv4 "
                   "[env INCIDENT_CONTACTS_CREDENTIALS].")
@click.option("--tls-cert", default=None, metavar="FILE",
              help="Serve HTTPS with this PEM certificate (intermediates after it), with "
                   "--tls-key [env INCIDENT_CONTACTS_TLS_CERT].")
@click.option("--tls-key", default=None, metavar="FILE",
              help="The certificate's PEM private key, readable by the server's user only "
                   "(or root's, 0640 at most) [env INCIDENT_CONTACTS_TLS_KEY].")
@click.option("--forwarded-allow-ips", default=None, metavar="LIST",
              help="Addresses or networks (comma-separated; * for any) of reverse proxies "
                   "whose X-Forwarded-For and X-Forwarded-Proto give the client's address "
                   "and scheme [env INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS; default none].")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="The least severe records logged (no environment variable).")
@_LOG_FORMAT
def serve(host: str | None, port: int | None, database: str | None,
          inspection: bool | None, auth: str | None, credentials_file: str | None,
          tls_cert: str | None, tls_key: str | None, forwarded_allow_ips: str | None,
          log_level: str, log_format: str) -> None:
    """Run the server."""
    import uvicorn

    from incident_contacts.api import forwarded
    from incident_contacts.delivery import build_transports
    from incident_contacts.keys import KeyConfigurationError
    from incident_contacts.server import build_application, delivery_settings
    from incident_contacts.store.db import SchemaTooNewError

    _configure_logging(log_level, log_format)
    try:
        settings = from_environ(host=host, port=port, database=database,
                                inspection=inspection, auth=auth,
                                credentials_file=credentials_file, tls_cert=tls_cert,
                                tls_key=tls_key,
                                forwarded_allow_ips=None if forwarded_allow_ips is None
                                else _keys((forwarded_allow_ips,)))
        _check_tls(settings.tls_cert, settings.tls_key)
        listening = _listen(settings.host, settings.port)
        credentials = _check_auth(settings)
        settings = _check_data_key_file(settings)
        transports = build_transports(delivery_settings(settings))
        app = build_application(settings, transports=transports, credentials=credentials)
        _name_unsent(transports)
    except (KeyConfigurationError, ValueError, SchemaTooNewError) as exc:
        _fail(str(exc))
    except (SQLAlchemyError, ImportError) as exc:
        _fail(_database_error(exc))
    _name_proxies(settings)
    scheme = "https" if settings.tls_cert else "http"
    bound_port = listening.getsockname()[1]
    base = f"{scheme}://{_url_host(settings.host)}:{bound_port}"
    console = f", console {base}/console/" if settings.console else ""
    _announce(log_format, f"incident-contacts {__version__} on {base} (database "
              f"{_shown_url(settings.database)}, auth {settings.auth}{console})")
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal to the handler it
    # found; this one turns that into a normal exit, which is what service managers expect.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    # With JSON logs uvicorn's own lines go through the root logger's formatter too.
    log_config: Any = None if log_format == "json" else uvicorn.config.LOGGING_CONFIG
    server = uvicorn.Server(uvicorn.Config(
        forwarded.wrap(app, settings.forwarded_allow_ips), host=settings.host, port=bound_port,
        log_level=log_level, access_log=False, lifespan="on", log_config=log_config,
        ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key,
        # Python's own cipher list (uvicorn's "TLSv1" would also offer SHA-1 suites).
        ssl_ciphers="",
        # uvicorn would believe X-Forwarded-* from any process on this host (its default
        # FORWARDED_ALLOW_IPS); forwarded.wrap believes only the peers of our setting.
        proxy_headers=False))
    server.run(sockets=[listening])
    if not server.started:
        sys.exit(3)   # start-up failed (uvicorn said why); uvicorn.run exits so too


def _check_tls(cert: str | None, key: str | None) -> None:
    """Load the certificate and key as the server will, so that a wrong file is refused in
    one line before anything starts, not with uvicorn's traceback."""
    if cert is None or key is None:
        return
    import ssl

    try:
        # No prompt for a passphrase: an encrypted key fails here, not at a terminal.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=b"")
    except OSError as exc:
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ValueError(f"TLS certificate {cert} or key {key}: {reason}") from exc
    secret_files.check(key, "the TLS private key")


def _check_data_key_file(settings: Settings) -> Settings:
    """The data key file, given or generated beside a SQLite database, is a secret file too
    (the one generated is made 0600; a copy restored with looser modes is refused). It is
    read once, from the descriptor whose owner and mode were checked, and the settings
    returned carry its key (so no file swapped in after the check is read)."""
    from incident_contacts.store.db import normalise_url, sqlite_path

    if settings.data_key:
        return settings
    path = settings.data_key_file
    if not path:
        try:
            database = sqlite_path(normalise_url(settings.database))
        except Exception:   # not a URL of ours: opening it says why
            return settings
        if database is None:
            return settings
        path = str(database) + ".key"
        if not os.path.lexists(path):
            return settings     # generated (0600) when the runtime is built
    return dataclasses.replace(settings, data_key=_read_data_key(path), data_key_file=None)


def _read_data_key(path: str) -> str:
    """The key in a data key file, read from the descriptor whose owner and mode were
    checked; ``ValueError`` naming the file (never its contents) otherwise."""
    from incident_contacts import crypto

    try:
        text = secret_files.read(path, "the data key file").decode("utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read the data key file {path}: {exc}") from exc
    except UnicodeDecodeError:
        raise ValueError(f"{path}: a data key must be 32 bytes in standard base64") from None
    try:
        crypto.parse_key(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return text


def _name_proxies(settings: Settings) -> None:
    """Say whose X-Forwarded-* headers are believed, and that uvicorn's variable is not read
    (an older README named it)."""
    log = logging.getLogger("incident_contacts")
    if settings.forwarded_allow_ips:
        log.info("client address and scheme taken from X-Forwarded-For and "
                 "X-Forwarded-Proto sent by %s", ", ".join(settings.forwarded_allow_ips))
    if "FORWARDED_ALLOW_IPS" in os.environ:
        log.warning("FORWARDED_ALLOW_IPS (uvicorn's) is not read: "
                    "INCIDENT_CONTACTS_FORWARDED_ALLOW_IPS names the proxies to believe%s",
                    "" if settings.forwarded_allow_ips else " (none now)")


@main.command()
@click.option("--database", default=None, metavar="URL",
              help="The database the API servers use (default: incident-contacts.db here, "
                   "made if missing) [env INCIDENT_CONTACTS_DATABASE].")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="The least severe records logged (no environment variable).")
@_LOG_FORMAT
def worker(database: str | None, log_level: str, log_format: str) -> None:
    """Run the delivery worker and the engagement engine without the API.

    For deployments that separate API servers (`serve` with INCIDENT_CONTACTS_WORKERS=false)
    from workers. Any number of workers may share one PostgreSQL database; timers and
    messages are claimed with row locks, so each step and each message is taken by one.
    """
    import threading

    from incident_contacts.delivery import build_transports
    from incident_contacts.keys import KeyConfigurationError
    from incident_contacts.server import build_runtime, build_workers, delivery_settings
    from incident_contacts.store.db import SchemaTooNewError

    _configure_logging(log_level, log_format)
    try:
        settings = _check_data_key_file(from_environ(database=database))
        transports = build_transports(delivery_settings(settings))
        runtime = build_runtime(settings)
        _name_unsent(transports)
    except (KeyConfigurationError, ValueError, SchemaTooNewError) as exc:
        _fail(str(exc))
    except (SQLAlchemyError, ImportError) as exc:
        _fail(_database_error(exc))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    workers = build_workers(runtime, transports)
    for item in workers:
        item.start()
    _announce(log_format,
              f"incident-contacts {__version__} worker (database "
              f"{_shown_url(settings.database)})")
    stopping.wait()
    for item in reversed(workers):
        item.stop()
    runtime.close()


def _keys(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@main.command("rotate-key")
@click.option("--database", default=None, metavar="URL",
              help="The database to re-encrypt [env INCIDENT_CONTACTS_DATABASE].")
@click.option("--old-key", "old_keys", multiple=True, metavar="KEY",
              help="A key records may be sealed under now (base64); repeat it, or separate "
                   "keys with commas [env INCIDENT_CONTACTS_OLD_DATA_KEYS, which other users "
                   "cannot read from the process list].")
@click.option("--new-key", default=None, metavar="KEY",
              help="The key to seal every record under (32 random bytes, base64) "
                   "[env INCIDENT_CONTACTS_DATA_KEY or INCIDENT_CONTACTS_DATA_KEY_FILE].")
@click.option("--batch-size", type=click.IntRange(min=1), default=200, show_default=True,
              help="Rows per transaction.")
def rotate_key(database: str | None, old_keys: tuple[str, ...], new_key: str | None,
               batch_size: int) -> None:
    """Re-encrypt every sealed record under a new data key, online.

    Run it after every server has been restarted with the new key as its data key and the
    old one in INCIDENT_CONTACTS_OLD_DATA_KEYS; once it reports no unreadable record, the
    old key can be dropped. Exit status 1 when some record opened under none of the keys.
    """
    import os

    from incident_contacts import crypto
    from incident_contacts.store.db import Store, normalise_url, sqlite_path
    from incident_contacts.store.rotate import rotate

    logging.basicConfig(level="INFO", format=_TEXT_FORMAT)
    try:
        settings = from_environ(database=database)
        new_text = new_key or settings.data_key
        if not new_text and settings.data_key_file:
            new_text = _read_data_key(settings.data_key_file)
        if not new_text:
            raise ValueError("--new-key is required (or INCIDENT_CONTACTS_DATA_KEY, or "
                             "INCIDENT_CONTACTS_DATA_KEY_FILE)")
        old_texts = _keys(old_keys) or list(settings.old_data_keys)
        if not old_texts:
            raise ValueError("--old-key is required (or INCIDENT_CONTACTS_OLD_DATA_KEYS)")
        try:
            primary = crypto.parse_key(new_text)
        except ValueError as exc:
            raise ValueError(f"--new-key: {exc}") from None
        try:
            older = [crypto.parse_key(k) for k in old_texts]
        except ValueError as exc:
            raise ValueError(f"--old-key: {exc}") from None
        path = sqlite_path(normalise_url(settings.database))
        if path is not None and not path.exists():
            raise ValueError(f"no database at {path}")
    except ValueError as exc:
        click.echo(f"incident-contacts: {exc}", err=True)
        sys.exit(2)
    except (SQLAlchemyError, ImportError) as exc:
        _fail(_database_error(exc))
    keyring = crypto.KeyRing(primary, older)
    try:
        store = Store(settings.database)
        with store.engine.connect():
            pass
    except (SQLAlchemyError, ImportError) as exc:
        _fail(_database_error(exc))
    if new_key or old_keys:
        logging.getLogger("incident_contacts").warning(
            "data keys given on the command line can be read by every local user from the "
            "process list (and stay in shell history): give them in INCIDENT_CONTACTS_DATA_KEY "
            "or INCIDENT_CONTACTS_DATA_KEY_FILE and INCIDENT_CONTACTS_OLD_DATA_KEYS instead")
    try:
        report = rotate(store, keyring, batch_size=batch_size,
                        progress=lambda table, n: click.echo(f"{table}: {n} rows", err=True))
    except SQLAlchemyError as exc:
        _fail(f"rotate-key stopped: {_database_error(exc).partition(': ')[2]}; what it "
              "re-sealed stays so: run it again to finish")
    finally:
        store.dispose()
    click.echo(f"re-sealed {report.resealed} values under key {keyring.primary_id}; "
               f"{report.current} were already under it", err=True)
    if report.sealed_plain:
        click.echo(f"sealed {report.sealed_plain} values an older release stored in plain",
                   err=True)
    if not report.ok:
        shown = os.linesep.join(f"  {aad}" for aad in report.unreadable[:20])
        click.echo(f"{len(report.unreadable)} values open under none of the keys given, left "
                   f"as they were:{os.linesep}{shown}", err=True)
        sys.exit(1)


@main.command()
@click.argument("destination", type=click.Path(dir_okay=False, writable=True))
@click.option("--database", default=None, metavar="URL",
              help="The SQLite database to copy [env INCIDENT_CONTACTS_DATABASE].")
def backup(destination: str, database: str | None) -> None:
    """Copy a SQLite database to DESTINATION, consistently, while servers use it.

    SQLite's online backup copies one snapshot of the database, whatever the servers commit
    meanwhile. It does not copy the data key: sealed records open only with it, so keep the
    key (the database's .key file, or INCIDENT_CONTACTS_DATA_KEY) safe, and apart from the
    backups. For PostgreSQL use pg_dump.
    """
    import os
    import sqlite3
    from contextlib import closing
    from pathlib import Path

    from incident_contacts.store.db import normalise_url, sqlite_path

    try:
        settings = from_environ(database=database)
        url = normalise_url(settings.database)
        source = sqlite_path(url)
        if source is None:
            raise ValueError("backup copies a SQLite database file; for PostgreSQL use pg_dump"
                             if not url.startswith("sqlite") else "an in-memory database "
                             "has nothing to back up")
        if not source.exists():
            raise ValueError(f"no database at {source}")
        target = Path(destination)
        if target.exists():
            raise ValueError(f"{target} exists already: backup never overwrites a file")
        if target.resolve() == source.resolve():
            raise ValueError("the backup cannot be the database itself")
    except ValueError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(_database_error(exc))
    partial = target.with_name(target.name + ".partial")
    try:
        # Made here, owner-only from the first byte (it will hold everything the database
        # holds), and never over a file already there: another backup's, or anyone's.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _fail(f"{partial} exists: another backup may be writing it; remove it if not")
    except OSError as exc:
        _fail(f"cannot write {partial}: {exc.strerror}")
    try:
        with closing(sqlite3.connect(source, timeout=30)) as reader, \
                closing(sqlite3.connect(partial)) as writer:
            reader.backup(writer, pages=4096)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        _fail(f"the backup failed: {exc}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if target.exists():        # made meanwhile
        partial.unlink(missing_ok=True)
        _fail(f"{target} exists already: backup never overwrites a file")
    partial.replace(target)
    click.echo(f"backed up {source} to {target} ({target.stat().st_size} bytes); the data "
               "key is not in it: keep the key apart", err=True)


@main.command("copy")
@click.option("--source-profile", default=None, metavar="NAME",
              help="AWS profile to read with (default: the usual credential chain).")
@click.option("--source-region", default=None, metavar="REGION",
              help="Region to copy from (default: the profile's or AWS_DEFAULT_REGION).")
@click.option("--source-endpoint-url", default=None, metavar="URL",
              help="Read from this endpoint instead of AWS (e.g. another incident-contacts).")
@click.option("--source-account", default=None, metavar="ACCOUNT",
              help="Copy this account's contacts only; contacts shared from other accounts "
                   "are skipped (default: the caller's account, asked of AWS STS when reading "
                   "from AWS, else the account of the source's rotations or contacts).")
@click.option("--target-endpoint-url", required=True, metavar="URL",
              help="The incident-contacts server to copy to, e.g. http://127.0.0.1:4575.")
@click.option("--target-region", default=None, metavar="REGION",
              help="Region to copy to (default: the source region).")
@click.option("--target-profile", default=None, metavar="NAME",
              help="AWS profile whose keys the target is called with (default: the usual "
                   "credential chain).")
@click.option("--send-activation-codes", is_flag=True,
              help="After copying, send an activation code to each channel not activated "
                   "on the target.")
@click.option("--target-account", default=None, metavar="ACCOUNT",
              help="The target's own account: tells its contacts from those other accounts "
                   "share with it before anything is written (default: learned from its "
                   "rotations or from what the copy writes).")
@click.option("--update", is_flag=True,
              help="Set matched contacts (display name, plan, tags) and rotations (members, "
                   "start, time zone, recurrence, tags) to the source's. Without it, "
                   "differences are reported and left as they are.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; write nothing.")
def copy_command(source_profile: str | None, source_region: str | None,
                 source_endpoint_url: str | None, source_account: str | None,
                 target_endpoint_url: str, target_region: str | None,
                 target_profile: str | None, target_account: str | None,
                 send_activation_codes: bool, update: bool, dry_run: bool) -> None:
    """Copy the contacts of one account and region (AWS Incident Manager by default) to an
    incident-contacts server, through the public ssm-contacts API on both sides.

    Copies contacts, channels (to be activated again), rotations and their overrides that
    have not ended, plans, contact policies and tags; never engagements or pages. Safe to
    run again: what exists on the target is matched, not duplicated, and compared (each
    difference is reported; --update writes them). Ends with a summary, also when the run
    stopped early (a side that cannot be reached, throttling past the retries); exit status
    1 when anything failed or the run stopped.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from incident_contacts.copy_report import Report
    from incident_contacts.copying import copy_contacts

    try:
        reading = boto3.Session(profile_name=source_profile, region_name=source_region)
        region = reading.region_name
        if not region:
            raise ValueError("--source-region is required (no region is configured)")
        source = reading.client(
            "ssm-contacts", endpoint_url=source_endpoint_url,
            config=Config(retries={"mode": "adaptive", "max_attempts": 10}))
        if source_account is None and source_endpoint_url is None:
            # AWS lists the contacts other accounts share with the caller beside its own.
            source_account = str(reading.client("sts").get_caller_identity()["Account"])
        writing = boto3.Session(profile_name=target_profile,
                                region_name=target_region or region)
        target = writing.client(
            "ssm-contacts", endpoint_url=target_endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 5}))
        report = copy_contacts(source, target, dry_run=dry_run, update=update,
                               send_activation_codes=send_activation_codes,
                               source_account=source_account, target_account=target_account)
    except (BotoCoreError, ClientError, ValueError) as exc:
        # botocore names an endpoint URL it refuses, with any password written into it
        _fail(Report().scrub(str(exc)))
    for outcome in report.outcomes:
        click.echo(outcome.line())
    for note in report.notes:
        click.echo(f"note: {note}")
    for line in report.stop_lines():
        click.echo(line)
    click.echo(("dry run, nothing written: " if dry_run else "") + report.summary())
    if not report.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
