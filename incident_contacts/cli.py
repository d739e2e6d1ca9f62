"""The ``incident-contacts`` command: a thin layer mapping options onto :class:`Settings`."""

from __future__ import annotations

import logging
import sys

import click

from incident_contacts import __version__
from incident_contacts.config import from_environ


@click.group()
@click.version_option(__version__, prog_name="incident-contacts")
def main() -> None:
    """A self-hostable AWS Systems Manager Incident Manager Contacts (ssm-contacts)."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [env INCIDENT_CONTACTS_HOST; "
              "default 127.0.0.1].")
@click.option("--port", type=int, default=None,
              help="Port [env INCIDENT_CONTACTS_PORT; default 4575].")
@click.option("--database", default=None, metavar="URL",
              help="SQLAlchemy URL: sqlite:///file.db (default: incident-contacts.db here) or "
                   "postgresql://user@host/db [env INCIDENT_CONTACTS_DATABASE].")
@click.option("--inspection/--no-inspection", default=None,
              help="The development endpoints (sent messages, clock). Default: on with "
                   "--auth off, off with --auth sigv4.")
@click.option("--log-level", default="info",
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(host: str | None, port: int | None, database: str | None,
          inspection: bool | None, log_level: str) -> None:
    """Run the server."""
    import uvicorn

    from incident_contacts.keys import KeyConfigurationError
    from incident_contacts.server import build_application

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = from_environ(host=host, port=port, database=database,
                                inspection=inspection)
        app = build_application(settings)
    except (KeyConfigurationError, ValueError) as exc:
        click.echo(f"incident-contacts: {exc}", err=True)
        sys.exit(2)
    click.echo(f"incident-contacts {__version__} on http://{settings.host}:{settings.port} "
               f"(database {settings.database})", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
