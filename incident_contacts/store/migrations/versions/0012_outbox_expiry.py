"""when an outgoing message stops being worth sending

Revision ID: 0012
Revises: 0011

An activation message's row now carries its code's expiry (``outbox.expires_at``, the value
written to ``activation_codes.expires_at``): the delivery worker fails a message whose code
expired before it could go out, and gives the provider the time the code has left, whichever
process sends it. Rows written before this revision keep NULL and are sent as before (their
time to live taken from the sending process's code lifetime). A page message gets one only
when it is cancelled (an acknowledgement, StopEngagement) while a delivery worker holds it:
the worker records what became of its attempt, and does not try again.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.Float(precision=53), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite a batch drop rebuilds the table, and dropping the old one
    # would cascade the deletion of its rows into delivery_attempts. SQLite (3.35 and later)
    # drops a plain column in place.
    op.drop_column('outbox', 'expires_at')
