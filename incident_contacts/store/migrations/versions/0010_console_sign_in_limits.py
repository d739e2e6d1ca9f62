"""failed console sign-ins, counted in the database

Revision ID: 0010
Revises: 0009

The console's limits on failed sign-ins were kept in each server process's memory, per client
address: several processes on one database each allowed their own attempts. They are rows
now, one per limited key (a keyed hash of a client address, a user name, or both), which
housekeeping deletes once their failures are forgotten.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_sign_in_limits',
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('clear_at', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_console_sign_in_limits')),
    )
    with op.batch_alter_table('console_sign_in_limits', schema=None) as batch_op:
        batch_op.create_index('ix_console_sign_in_limits_clear_at', ['clear_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_sign_in_limits', schema=None) as batch_op:
        batch_op.drop_index('ix_console_sign_in_limits_clear_at')
    op.drop_table('console_sign_in_limits')
