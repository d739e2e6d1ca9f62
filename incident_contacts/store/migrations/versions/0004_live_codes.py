"""an index of the live activation code of each channel

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.create_index('ix_activation_codes_live', ['channel_pk'], unique=False,
                              sqlite_where=sa.text('voided_at IS NULL'),
                              postgresql_where=sa.text('voided_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_activation_codes_live')
