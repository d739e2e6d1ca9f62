"""whether a rotation was given its start

Revision ID: 0014
Revises: 0013

A rotation created without ``StartTime`` counts its shifts from its creation time, as before,
but GetRotation and ListRotations now leave ``StartTime`` out for it, as AWS does
(``rotations.start_given`` false). Rows written before this revision, and by older releases
still running after it, keep reporting their start: the column defaults to true.
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in batch mode: Alembic's batch mode rebuilds a SQLite table for a column whose
    # default is an expression, and dropping the old table would cascade the deletion of its
    # rows into rotation_members, rotation_overrides and override_members. A plain ADD COLUMN
    # with a constant default fills the rows in place on both databases.
    op.add_column('rotations', sa.Column('start_given', sa.Boolean(), nullable=False,
                                         server_default=sa.true()))


def downgrade() -> None:
    # Not in batch mode either (a batch drop rebuilds the table): SQLite (3.35 and later)
    # drops a plain column in place.
    op.drop_column('rotations', 'start_given')
