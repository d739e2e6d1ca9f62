"""the tables of 0002 and 0003 on databases that early releases stamped without them

Revision ID: 0007
Revises: 0006

0002 and 0003 were first committed as empty placeholders (210bb1d), and filled in later
(0002 in 7b78e79, 0003 in 6d9a27c). A database made by a release in between was stamped
0003 without the rotation tables, the engagement tables, or both; Alembic never runs a
stamped revision again, so those databases reached head with tables missing and every
rotation or engagement call failed. Here each group is created where none of its tables
exists, by the very migration that was skipped; a database that has some of a group's
tables but not all was not made by any release, and stops the migration.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The migrations that were placeholders once, and the tables each creates.
_SKIPPED = {
    '0002_rotations': ('rotations', 'rotation_members', 'rotation_overrides',
                       'override_members'),
    '0003_engagements': ('engagements', 'engagement_events', 'engagement_tracks',
                         'engine_timers', 'pages', 'page_receipts'),
}


def _migration(name: str) -> ModuleType:
    """A sibling migration's module (the versions folder is not a package)."""
    path = Path(__file__).with_name(f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'incident_contacts_migration_{name}', path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, tables in _SKIPPED.items():
        missing = [table for table in tables if table not in present]
        if not missing:
            continue
        if len(missing) < len(tables):
            raise RuntimeError(
                f"the database has some of the tables of migration {name} but not "
                f"{', '.join(missing)}: it was not made by any release of incident-contacts")
        _migration(name).upgrade()


def downgrade() -> None:
    """Nothing: the tables belong to 0002 and 0003, whose downgrades drop them."""
