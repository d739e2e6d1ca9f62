"""Engagements, the people they page, pages, receipts, the engine's timers and its log.

An engagement is resolved into *tracks*: one per person paged through their engagement plan
(a PERSONAL contact engaged directly, through an escalation stage, or through an on-call
schedule). A track walks its plan's stages; each stage pages the person's channels. Timers
say when the next step of an engagement or a track is due; the engine claims them with row
locks, and each step's writes commit together with the timer's removal.
"""

import sqlalchemy as sa

from incident_contacts.store.schema.base import Timestamp, metadata

engagements = sa.Table(
    "engagements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("engagement_id", sa.String(36), nullable=False, unique=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    # The contact engaged, by alias (its ARN follows); it may be deleted later.
    sa.Column("contact_alias", sa.String(255), nullable=False),
    sa.Column("contact_type", sa.String(16), nullable=False),
    # The escalation plan as it was when the engagement started (JSON).
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("sender", sa.String(255), nullable=False),
    sa.Column("incident_id", sa.String(1024), nullable=True),
    # Sealed with the data key, bound to the engagement id and column.
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("public_subject", sa.Text, nullable=True),
    sa.Column("public_content", sa.Text, nullable=True),
    sa.Column("stop_reason", sa.Text, nullable=True),
    sa.Column("start_time", Timestamp, nullable=False),
    sa.Column("stop_time", Timestamp, nullable=True),
    # Set when an essential contact acknowledged: no further escalation stage starts.
    sa.Column("escalation_stopped_at", Timestamp, nullable=True),
    sa.Index("ix_engagements_listing", "account", "region", "start_time", "id"),
    sa.Index("ix_engagements_incident", "account", "region", "incident_id"),
    # The stopped engagements in the order they stopped: housekeeping's retention
    # (engine.housekeeping) reads from the oldest. Running ones are not in it, so starting an
    # engagement writes no entry.
    sa.Index("ix_engagements_stopped", "stop_time", "id",
             sqlite_where=sa.text("stop_time IS NOT NULL"),
             postgresql_where=sa.text("stop_time IS NOT NULL")),
)

engagement_tracks = sa.Table(
    "engagement_tracks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "engagement_pk",
        sa.Integer,
        sa.ForeignKey("engagements.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The PERSONAL contact paged.
    sa.Column("person_alias", sa.String(255), nullable=False),
    # The contact the escalation stage named (the person, or an on-call schedule), and the
    # stage: -1 when the engaged contact itself resolved to this person.
    sa.Column("target_alias", sa.String(255), nullable=False),
    sa.Column("escalation_stage", sa.Integer, nullable=False),
    sa.Column("essential", sa.Boolean, nullable=False),
    # The resolution path, engaged contact first (JSON list of ResolutionContact).
    sa.Column("path", sa.Text, nullable=False),
    # The person's engagement plan as it was when the track started (JSON list of stages).
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("stopped_at", Timestamp, nullable=True),
    sa.Column("stop_reason", sa.String(24), nullable=True),
    sa.UniqueConstraint("engagement_pk", "escalation_stage", "target_alias", "person_alias",
                        name="uq_engagement_tracks_person"),
    sa.Index("ix_engagement_tracks_person", "engagement_pk", "person_alias"),
)

pages = sa.Table(
    "pages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("page_id", sa.String(36), nullable=False, unique=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column(
        "engagement_pk",
        sa.Integer,
        sa.ForeignKey("engagements.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "track_pk",
        sa.Integer,
        sa.ForeignKey("engagement_tracks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("contact_alias", sa.String(255), nullable=False),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("channel_id", sa.String(36), nullable=False),
    sa.Column("channel_type", sa.String(8), nullable=False),
    sa.Column("retry_interval", sa.Integer, nullable=False),
    # HMAC-SHA256 of the accept code under the server's secret; the code is never stored.
    sa.Column("accept_code_hash", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_time", Timestamp, nullable=True),
    sa.Column("delivery_time", Timestamp, nullable=True),
    sa.Column("read_time", Timestamp, nullable=True),
    # The provider's id of the latest message that went out (a call's sid: pressing 1
    # during the call acknowledges the page it carried).
    sa.Column("provider_message_id", sa.String(256), nullable=True),
    # The engine worker that wrote the page (operations: who did the work).
    sa.Column("worker", sa.String(64), nullable=True),
    # A replayed step cannot page the same channel twice for one stage of one track.
    sa.UniqueConstraint("track_pk", "stage", "channel_id", name="uq_pages_channel"),
    sa.Index("ix_pages_contact", "account", "region", "contact_alias", "id"),
    sa.Index("ix_pages_engagement", "engagement_pk", "id"),
    sa.Index("ix_pages_provider", "provider_message_id"),
)

page_receipts = sa.Table(
    "page_receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receipt_id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "page_pk",
        sa.Integer,
        sa.ForeignKey("pages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("receipt_type", sa.String(16), nullable=False),
    sa.Column("channel_arn", sa.String(2048), nullable=True),
    # A provider's message id or a failure's reason, kept as the outbox keeps them.
    sa.Column("info", sa.Text, nullable=True),
    # Sealed: what a person wrote (a Note, a stop Reason) or the accept code they gave.
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("receipt_time", Timestamp, nullable=False),
    # The outbox message a SENT or ERROR receipt is about.
    sa.Column("message_id", sa.String(36), nullable=True),
    sa.Index("ix_page_receipts_page", "page_pk", "id"),
)

engine_timers = sa.Table(
    "engine_timers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # What the timer is for, unique, so that scheduling the same step twice is one timer:
    # "engage:<e>", "escalate:<e>:<stage>", "track:<t>:<stage>", "retry:<page>:<send>".
    sa.Column("key", sa.String(96), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("due_at", Timestamp, nullable=False),
    sa.Column(
        "engagement_pk",
        sa.Integer,
        sa.ForeignKey("engagements.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("subject_pk", sa.Integer, nullable=True),     # the track or the page
    sa.Column("stage", sa.Integer, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_engine_timers_due", "due_at"),
)

# What the engine did besides paging: channels skipped, nobody on call, acknowledgements,
# stops. Shown by the inspection endpoint; AWS's API has no member for it.
engagement_events = sa.Table(
    "engagement_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "engagement_pk",
        sa.Integer,
        sa.ForeignKey("engagements.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),           # JSON
    sa.Index("ix_engagement_events_engagement", "engagement_pk", "id"),
)
