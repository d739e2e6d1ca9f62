"""Contacts, channels, tags, idempotency records and server secrets."""

import sqlalchemy as sa

from incident_contacts.crypto import SEALED_PREFIX
from incident_contacts.store.schema.base import Timestamp, metadata

PLAIN_NAME = "plain:"
"""In front of a display name stored in plain by an older release (migration 0011 puts it
there). Every name written since is sealed, and no sealed value starts with it, so a stored
name is one or the other whatever the name says."""


def plain_name(stored: str) -> str | None:
    """The name a stored display name holds in plain, or None when it is sealed: marked by
    migration 0011, or unmarked and not of the sealed form, as an older server still running
    after the migration (a rolling upgrade on PostgreSQL) writes it."""
    if stored.startswith(PLAIN_NAME):
        return stored[len(PLAIN_NAME):]
    if not stored.startswith(SEALED_PREFIX):
        return stored
    return None

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("alias", sa.String(255), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    # Sealed with the data key (crypto.KeyRing), bound to the contact's account, region and
    # alias (service.contacts.display_name_aad). A name stored in plain by a release before
    # migration 0011 carries PLAIN_NAME in front until the server seals it
    # (engine.legacy_names). TEXT on PostgreSQL, where VARCHAR(255) would refuse a sealed
    # name; SQLite keeps its VARCHAR(255), which has TEXT affinity and no length limit (a
    # rebuilt table would cascade the deletion of its rows into channels).
    sa.Column("display_name", sa.String(255).with_variant(sa.Text(), "postgresql"),
              nullable=True),
    # The plan as the caller sent it (JSON), so stages and targets keep their order.
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("policy", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("account", "region", "alias", name="uq_contacts_alias"),
    # Contacts with a policy, which ListContacts of other accounts may include (shared
    # contacts), in the order it lists them.
    sa.Index("ix_contacts_shared", "region", "alias", "account",
             sqlite_where=sa.text("policy IS NOT NULL"),
             postgresql_where=sa.text("policy IS NOT NULL")),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "contact_pk",
        sa.Integer,
        sa.ForeignKey("contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(8), nullable=False),
    # Sealed with the data key (crypto.KeyRing); address_index is its keyed blind index.
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("address_index", sa.String(64), nullable=False),
    sa.Column("activation_status", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("contact_pk", "type", "address_index", name="uq_channels_address"),
    sa.Index("ix_channels_contact", "contact_pk", "id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_arn", sa.String(2048), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("value", sa.String(256), nullable=False),
    sa.UniqueConstraint("resource_arn", "key", name="uq_tags_key"),
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("token", sa.String(2048), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("account", "region", "operation", "token", name="uq_idempotency_token"),
)

# Secrets the server generates for itself (the keys of code hashes and blind indexes),
# sealed with the data key.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
