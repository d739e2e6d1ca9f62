"""stop reasons out of the engagement log, where releases before 3d46225 wrote them in plain

Revision ID: 0008
Revises: 0007

StopEngagement's reason is personal text, sealed in engagements.stop_reason. Until 3d46225
it was also written in plain into the ENGAGEMENT_STOPPED line of engagement_events; since
then the log leaves it out and shows it opened from the sealed copy (every release wrote
that copy). Here the plain copies that older releases left are removed, so the log of an
old engagement reads as a new one does and the reason is no longer at rest in plain.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_events = sa.table(
    'engagement_events',
    sa.column('id', sa.Integer()),
    sa.column('kind', sa.String()),
    sa.column('detail', sa.Text()),
)
_BATCH = 500


def upgrade() -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_events.c.id, _events.c.detail)
            .where(_events.c.kind == 'ENGAGEMENT_STOPPED', _events.c.id > last,
                   _events.c.detail.like('%"Reason"%'))
            .order_by(_events.c.id).limit(_BATCH)).all()
        if not rows:
            return
        changed = []
        for row in rows:
            detail = json.loads(row.detail)
            if isinstance(detail, dict) and detail.pop('Reason', None) is not None:
                changed.append({'pk': row.id, 'plain_free': json.dumps(
                    detail, separators=(',', ':'), ensure_ascii=False)})
        if changed:
            bind.execute(_events.update().where(_events.c.id == sa.bindparam('pk'))
                         .values(detail=sa.bindparam('plain_free')), changed)
        last = rows[-1].id


def downgrade() -> None:
    """Nothing: the reasons stay in their sealed copy, where every release reads them."""
