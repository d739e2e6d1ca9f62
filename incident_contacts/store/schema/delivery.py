"""Activation codes and the outbox of messages handed to delivery."""

import sqlalchemy as sa

from incident_contacts.store.schema.base import Timestamp, metadata

activation_codes = sa.Table(
    "activation_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "channel_pk",
        sa.Integer,
        sa.ForeignKey("channels.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # HMAC-SHA256 of the code under the server's secret; the code itself is never stored.
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("failed_attempts", sa.Integer, nullable=False, default=0),
    # Set when the code stops working: used, superseded, deactivated or guessed at too often.
    sa.Column("voided_at", Timestamp, nullable=True),
    sa.Index("ix_activation_codes_channel", "channel_pk", "created_at"),
    # The live code of a channel (there is at most one): voiding and checking a code find it
    # here, however many spent codes the channel still keeps for the send quota.
    sa.Index("ix_activation_codes_live", "channel_pk",
             sqlite_where=sa.text("voided_at IS NULL"),
             postgresql_where=sa.text("voided_at IS NULL")),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(36), nullable=False, unique=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("channel_arn", sa.String(2048), nullable=False),
    sa.Column("channel_type", sa.String(8), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),           # ACTIVATION | PAGE
    sa.Column("page_arn", sa.String(2048), nullable=True),
    # Sealed with the data key, bound to the message id and column: the address, the words
    # of the message, and the codes the development outbox shows.
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("speech", sa.Text, nullable=True),
    sa.Column("code", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),             # PENDING | SENT | FAILED
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    # A worker's claim: who holds the row and until when (others may take it after).
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_until", Timestamp, nullable=True),
    sa.Column("provider_message_id", sa.String(256), nullable=True),
    sa.Column("sent_at", Timestamp, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # When the message stops being worth sending: an activation message's code expiry (the
    # value written to activation_codes.expires_at); NULL for pages and for rows written
    # before migration 0012. The worker never sends an activation message past it.
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_channel", "channel_arn", "id"),
    # A channel's messages still waiting (few, whatever the history or the backlog), which a
    # new activation code, an acknowledgement or StopEngagement cancel. With the status as its
    # second column SQLite prefers it to ix_outbox_due for those statements.
    sa.Index("ix_outbox_pending_channel", "channel_arn", "status",
             sqlite_where=sa.text("status = 'PENDING'"),
             postgresql_where=sa.text("status = 'PENDING'")),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "message_pk",
        sa.Integer,
        sa.ForeignKey("outbox.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),           # SENT | RETRY | FAILED
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("worker", sa.String(64), nullable=True),
)
