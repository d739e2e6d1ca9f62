"""contact display names sealed at rest

Revision ID: 0011
Revises: 0010

A contact's display name is a person's name, personal data: from this release it is stored
sealed with the data key like a channel's address. A migration holds no data key, so it
cannot seal the names older releases stored in plain. It marks them instead: each gets
``plain:`` in front (``store.schema.core.PLAIN_NAME``), which no sealed value starts with, so
the server tells a name still in plain from a sealed one whatever the name says, reads both,
and seals the marked ones once at start (``engine.legacy_names``, recorded in
``maintenance_done``).

On PostgreSQL the column becomes TEXT: a sealed name is longer than the 255 characters
VARCHAR(255) allowed (varchar to text rewrites nothing). SQLite's VARCHAR(255) sets no limit,
and its table is left as it is: rebuilding ``contacts`` would delete the channels with it
through their foreign key.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_PLAIN = 'plain:'
_contacts = sa.table(
    'contacts',
    sa.column('display_name', sa.Text()),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.alter_column('contacts', 'display_name', type_=sa.Text(),
                        existing_type=sa.String(length=255), existing_nullable=True)
    name = _contacts.c.display_name
    bind.execute(_contacts.update().where(name.is_not(None))
                 .values(display_name=sa.literal(_PLAIN, sa.Text()) + name))


def downgrade() -> None:
    """The marked names lose their mark (plain again, as older releases read them). Names
    sealed meanwhile stay sealed: no migration can open them, and an older release shows
    them as the sealed text. PostgreSQL's column stays TEXT for them."""
    bind = op.get_bind()
    name = _contacts.c.display_name
    bind.execute(_contacts.update().where(name.like(_PLAIN + '%'))
                 .values(display_name=sa.func.substr(name, len(_PLAIN) + 1)))
