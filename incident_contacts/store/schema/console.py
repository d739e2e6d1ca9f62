"""The console's sessions, kept on the server so that signing out ends them everywhere, and
the failed sign-ins counted against client addresses and user names, shared by every server
process."""

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

console_sign_in_limits = sa.Table(
    "console_sign_in_limits",
    metadata,
    # HMAC-SHA256 under the console's secret of what is limited: a client address, a user name
    # (an access key id, or an account id with --auth off), or the two together. Neither is
    # stored in plain.
    sa.Column("key_hash", sa.String(64), primary_key=True),
    # When every failure counted against the key is forgotten (the limit's "theoretical
    # arrival time"): one failure more moves it on by the limit's interval, and one is
    # refused while it is more than burst - 1 intervals ahead. A row past it holds nothing.
    sa.Column("clear_at", Timestamp, nullable=False),
    sa.Index("ix_console_sign_in_limits_clear_at", "clear_at"),
)
