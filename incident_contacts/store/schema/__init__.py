"""Every table, on one MetaData. Each feature keeps its tables in a module of its own."""

from incident_contacts.store.schema import (
    console,
    core,
    delivery,
    engagements,
    maintenance,
    rotations,
)
from incident_contacts.store.schema.base import Timestamp, metadata

__all__ = ["Timestamp", "console", "core", "delivery", "engagements", "maintenance", "metadata",
           "rotations"]
