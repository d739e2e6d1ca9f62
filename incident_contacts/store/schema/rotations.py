"""Rotations, their members in shift order, and rotation overrides with their contacts."""

import sqlalchemy as sa

from incident_contacts.store.schema.base import Timestamp, metadata

rotations = sa.Table(
    "rotations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rotation_id", sa.String(36), nullable=False, unique=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("start_time", Timestamp, nullable=False),
    sa.Column("time_zone", sa.String(255), nullable=False),
    # RecurrenceSettings exactly as the caller sent them (JSON): GetRotation gives them back
    # in the same order, which Terraform compares positionally (spec §6.9).
    sa.Column("recurrence", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # Whether the caller gave a StartTime (CreateRotation, or UpdateRotation since). Without
    # one ``start_time`` holds the creation time, which the shifts count from, and GetRotation
    # and ListRotations leave StartTime out, as AWS does (Terraform's start_time is optional,
    # not computed). The server default stands for rows written before migration 0014, and
    # by releases before it still running: those always reported their start.
    sa.Column("start_given", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("ix_rotations_account", "account", "region", "id"),
)

# The members of a rotation, in shift order. A contact in a rotation cannot be deleted (the
# delete guard answers first; the foreign key is the backstop).
rotation_members = sa.Table(
    "rotation_members",
    metadata,
    sa.Column(
        "rotation_pk",
        sa.Integer,
        sa.ForeignKey("rotations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("contact_pk", sa.Integer, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Index("ix_rotation_members_contact", "contact_pk"),
)

rotation_overrides = sa.Table(
    "rotation_overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("override_id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "rotation_pk",
        sa.Integer,
        sa.ForeignKey("rotations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("start_time", Timestamp, nullable=False),
    sa.Column("end_time", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_rotation_overrides_window", "rotation_pk", "end_time"),
    # Every rotation's overrides by when they end: housekeeping's retention reads the oldest.
    sa.Index("ix_rotation_overrides_ended", "end_time", "id"),
)

# The contacts of an override, in the order given. Only rotation members can be named, and a
# member cannot be deleted; one removed from the rotation and then deleted leaves the override.
override_members = sa.Table(
    "override_members",
    metadata,
    sa.Column(
        "override_pk",
        sa.Integer,
        sa.ForeignKey("rotation_overrides.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column(
        "contact_pk",
        sa.Integer,
        sa.ForeignKey("contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Index("ix_override_members_contact", "contact_pk"),
)
