"""an index of each channel's messages still waiting

Revision ID: 0013
Revises: 0012

A new activation code, an acknowledgement and StopEngagement cancel the channel's messages
that are still waiting. Found through the index of pending messages, that cost grew with the
delivery backlog (thousands of rows while a provider is down); through the index of a
channel's messages, with the channel's history. A partial index holds only the waiting ones.
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending_channel', ['channel_arn', 'status'],
                              unique=False,
                              sqlite_where=sa.text("status = 'PENDING'"),
                              postgresql_where=sa.text("status = 'PENDING'"))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending_channel')
