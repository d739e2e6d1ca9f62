"""The console's sessions, kept on the server so that signing out ends them everywhere."""

import sqlalchemy as sa

from incident_contacts.store.schema.base import Timestamp, metadata

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # HMAC-SHA256 of the session's random token under the console's secret; the cookie holds
    # the token, the database only this.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("access_key_id", sa.String(128), nullable=True),   # None with --auth off
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_console_sessions_expires_at", "expires_at"),
)
