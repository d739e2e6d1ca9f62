"""Assembling a service from settings: the runtime, the pipeline and the ASGI application."""

from __future__ import annotations

import logging
from typing import Any

from incident_contacts.api.app import Application
from incident_contacts.api.dispatch import Dispatcher
from incident_contacts.clock import Clock, SystemClock
from incident_contacts.config import Settings
from incident_contacts.keys import load_keyring
from incident_contacts.runtime import Runtime
from incident_contacts.store.db import Store

log = logging.getLogger(__name__)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    runtime = Runtime(settings, Store(settings.database), clock or SystemClock(),
                      load_keyring(settings))
    runtime.start()
    return runtime


def build_dispatcher(runtime: Runtime) -> Dispatcher:
    return Dispatcher(runtime)


def build_application(settings: Settings, clock: Clock | None = None) -> Application:
    """The whole service as an ASGI app; background workers run with its lifespan."""
    runtime = build_runtime(settings, clock)
    background: list[Any] = []
    return Application(runtime, build_dispatcher(runtime), background)


__all__ = ["build_application", "build_dispatcher", "build_runtime"]
