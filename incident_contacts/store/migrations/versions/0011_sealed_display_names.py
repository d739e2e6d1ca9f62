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

A downgrade cannot open the names sealed meanwhile: it marks them ``sealed:`` instead, so
that the next upgrade gives them back as they were rather than taking them for names in
plain (a name someone could have chosen may look like a sealed value, but holds no colon),
and it forgets that the names were sealed once, so that the server seals again what the
older release writes in plain meanwhile.

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
_SEALED = 'sealed:'
_SEALED_FORM = 'v1.'         # crypto.SEALED_PREFIX
_TASK = 'seal-plain-display-names'      # engine.legacy_names.TASK
_contacts = sa.table(
    'contacts',
    sa.column('display_name', sa.Text()),
)
_maintenance_done = sa.table('maintenance_done', sa.column('name', sa.String(64)))


def _starts(name: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    # substr, not LIKE: SQLite's LIKE ignores case
    return sa.func.substr(name, 1, len(prefix)) == prefix


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.alter_column('contacts', 'display_name', type_=sa.Text(),
                        existing_type=sa.String(length=255), existing_nullable=True)
    name = _contacts.c.display_name
    bind.execute(_contacts.update().where(name.is_not(None), sa.not_(_starts(name, _SEALED)))
                 .values(display_name=sa.literal(_PLAIN, sa.Text()) + name))
    # Sealed before a downgrade: as they were.
    bind.execute(_contacts.update().where(_starts(name, _SEALED))
                 .values(display_name=sa.func.substr(name, len(_SEALED) + 1)))


def downgrade() -> None:
    """The marked names lose their mark (plain again, as older releases read them). Names
    sealed meanwhile stay sealed (no migration can open them), marked ``sealed:`` for the
    next upgrade; an older release shows them as that text. PostgreSQL's column stays TEXT
    for them."""
    bind = op.get_bind()
    name = _contacts.c.display_name
    bind.execute(_contacts.update().where(_starts(name, _SEALED_FORM))
                 .values(display_name=sa.literal(_SEALED, sa.Text()) + name))
    bind.execute(_contacts.update().where(_starts(name, _PLAIN))
                 .values(display_name=sa.func.substr(name, len(_PLAIN) + 1)))
    bind.execute(_maintenance_done.delete().where(_maintenance_done.c.name == _TASK))
