"""Assembling a service from settings: the runtime, the pipeline and the ASGI application."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from incident_contacts.api import security
from incident_contacts.api.app import Application
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.api.readcache import ReadCache
from incident_contacts.auth.credentials import CredentialStore
from incident_contacts.clock import Clock, SystemClock
from incident_contacts.config import Settings
from incident_contacts.delivery import DeliverySettings, Transport, build_transports
from incident_contacts.engine.delivery import DeliveryWorker, RetryPolicy
from incident_contacts.engine.housekeeping import Housekeeper
from incident_contacts.engine.worker import EngineWorker
from incident_contacts.keys import load_keyring
from incident_contacts.metrics import Metrics
from incident_contacts.runtime import Runtime
from incident_contacts.store.db import Store

log = logging.getLogger(__name__)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    runtime = Runtime(settings, Store(settings.database), clock or SystemClock(),
                      load_keyring(settings))
    runtime.start()
    return runtime


def build_dispatcher(runtime: Runtime, metrics: Metrics | None = None,
                     credentials: CredentialStore | None = None) -> Dispatcher:
    """The pipeline with the authenticator and guards (throttling, authorization) that the
    settings ask for (``api.security``), counting calls into ``metrics`` when given;
    ``credentials`` already read, else read from the settings' credentials file."""
    parts = security.pipeline(runtime, credentials)
    entries = runtime.settings.read_cache
    return Dispatcher(runtime, authenticator=parts.authenticator, guards=parts.guards,
                      metrics=metrics, read_cache=ReadCache(entries) if entries > 0 else None)


def delivery_settings(settings: Settings) -> DeliverySettings:
    """The delivery part of the settings: every field of DeliverySettings has its namesake in
    Settings (the same environment variable)."""
    return DeliverySettings(**{field.name: getattr(settings, field.name)
                               for field in dataclasses.fields(DeliverySettings)})


def build_application(settings: Settings, clock: Clock | None = None, *,
                      transports: Mapping[str, Transport] | None = None,
                      credentials: CredentialStore | None = None) -> Application:
    """The whole service as an ASGI app; background workers run with its lifespan.

    ``transports`` (channel type -> transport) replaces the ones the settings describe, e.g.
    a MemoryTransport in tests; ``credentials`` the keys the command line read (checked) from
    the credentials file. The delivery worker and the engagement engine run when
    ``settings.workers`` is true (``INCIDENT_CONTACTS_WORKERS``; ``incident-contacts worker``
    runs them in a process of their own).
    """
    if transports is None:
        # Built before the runtime, so a half-done configuration fails before any migration.
        transports = build_transports(delivery_settings(settings))
    runtime = build_runtime(settings, clock)
    metrics = Metrics(runtime) if settings.metrics else None
    background = build_workers(runtime, transports, metrics) if settings.workers else []
    return Application(runtime, build_dispatcher(runtime, metrics, credentials), background,
                       metrics=metrics)


def build_workers(runtime: Runtime, transports: Mapping[str, Transport],
                  metrics: Metrics | None = None) -> list[Any]:
    """The background workers, each with ``start()``/``stop()``: the delivery worker, the
    engagement engine, and the housekeeping that deletes old delivered messages, spent
    idempotency records, expired console sessions and (when their retention is set) stopped
    engagements and ended overrides, and scrubs older releases' error texts once. The server
    runs them beside the API;
    ``incident-contacts worker`` runs them alone."""
    settings = runtime.settings
    workers: list[Any] = [
        DeliveryWorker(runtime, transports,
                       policy=RetryPolicy(max_attempts=settings.delivery_max_attempts),
                       observe=None if metrics is None else metrics.observe_delivery),
        EngineWorker(runtime),
        # Always: with a retention of 0 it keeps the messages but still does the rest.
        Housekeeper(runtime),
    ]
    return workers


__all__ = ["build_application", "build_dispatcher", "build_runtime", "build_workers",
           "delivery_settings"]
