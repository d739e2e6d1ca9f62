"""an index of the contacts that have a policy, for listing shared contacts

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_shared', ['region', 'alias', 'account'], unique=False,
                              sqlite_where=sa.text('policy IS NOT NULL'),
                              postgresql_where=sa.text('policy IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_shared')
