"""indexes for the retention of engagement history, and the record of maintenance done

Revision ID: 0009
Revises: 0008

Housekeeping deletes stopped engagements and ended rotation overrides once they are older
than their retention (both off by default); each is read from the oldest through an index of
its own, so a round costs what it deletes. ``maintenance_done`` records one-time tasks that
need the data key and so cannot be migrations (the scrub of error texts that releases before
48f81bd wrote with the delivery address in them).
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('engagements', schema=None) as batch_op:
        batch_op.create_index('ix_engagements_stopped', ['stop_time', 'id'], unique=False,
                              sqlite_where=sa.text('stop_time IS NOT NULL'),
                              postgresql_where=sa.text('stop_time IS NOT NULL'))
    with op.batch_alter_table('rotation_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_rotation_overrides_ended', ['end_time', 'id'], unique=False)
    op.create_table(
        'maintenance_done',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('done_at', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_maintenance_done')),
    )


def downgrade() -> None:
    op.drop_table('maintenance_done')
    with op.batch_alter_table('rotation_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_rotation_overrides_ended')
    with op.batch_alter_table('engagements', schema=None) as batch_op:
        batch_op.drop_index('ix_engagements_stopped')
