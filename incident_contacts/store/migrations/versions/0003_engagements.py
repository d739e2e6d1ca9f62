"""engagements, pages, receipts and engine timers

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('engagements',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('engagement_id', sa.String(length=36), nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('contact_alias', sa.String(length=255), nullable=False),
    sa.Column('contact_type', sa.String(length=16), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=False),
    sa.Column('incident_id', sa.String(length=1024), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('public_subject', sa.Text(), nullable=True),
    sa.Column('public_content', sa.Text(), nullable=True),
    sa.Column('stop_reason', sa.Text(), nullable=True),
    sa.Column('start_time', sa.Float(precision=53), nullable=False),
    sa.Column('stop_time', sa.Float(precision=53), nullable=True),
    sa.Column('escalation_stopped_at', sa.Float(precision=53), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagements')),
    sa.UniqueConstraint('engagement_id', name=op.f('uq_engagements_engagement_id'))
    )
    with op.batch_alter_table('engagements', schema=None) as batch_op:
        batch_op.create_index('ix_engagements_incident', ['account', 'region', 'incident_id'], unique=False)
        batch_op.create_index('ix_engagements_listing', ['account', 'region', 'start_time', 'id'], unique=False)

    op.create_table('engagement_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('engagement_pk', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(precision=53), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['engagement_pk'], ['engagements.id'], name=op.f('fk_engagement_events_engagement_pk_engagements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_events'))
    )
    with op.batch_alter_table('engagement_events', schema=None) as batch_op:
        batch_op.create_index('ix_engagement_events_engagement', ['engagement_pk', 'id'], unique=False)

    op.create_table('engagement_tracks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('engagement_pk', sa.Integer(), nullable=False),
    sa.Column('person_alias', sa.String(length=255), nullable=False),
    sa.Column('target_alias', sa.String(length=255), nullable=False),
    sa.Column('escalation_stage', sa.Integer(), nullable=False),
    sa.Column('essential', sa.Boolean(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('started_at', sa.Float(precision=53), nullable=False),
    sa.Column('stopped_at', sa.Float(precision=53), nullable=True),
    sa.Column('stop_reason', sa.String(length=24), nullable=True),
    sa.ForeignKeyConstraint(['engagement_pk'], ['engagements.id'], name=op.f('fk_engagement_tracks_engagement_pk_engagements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_tracks')),
    sa.UniqueConstraint('engagement_pk', 'escalation_stage', 'target_alias', 'person_alias', name='uq_engagement_tracks_person')
    )
    with op.batch_alter_table('engagement_tracks', schema=None) as batch_op:
        batch_op.create_index('ix_engagement_tracks_person', ['engagement_pk', 'person_alias'], unique=False)

    op.create_table('engine_timers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=96), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.Float(precision=53), nullable=False),
    sa.Column('engagement_pk', sa.Integer(), nullable=False),
    sa.Column('subject_pk', sa.Integer(), nullable=True),
    sa.Column('stage', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['engagement_pk'], ['engagements.id'], name=op.f('fk_engine_timers_engagement_pk_engagements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engine_timers')),
    sa.UniqueConstraint('key', name=op.f('uq_engine_timers_key'))
    )
    with op.batch_alter_table('engine_timers', schema=None) as batch_op:
        batch_op.create_index('ix_engine_timers_due', ['due_at'], unique=False)

    op.create_table('pages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('page_id', sa.String(length=36), nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('engagement_pk', sa.Integer(), nullable=False),
    sa.Column('track_pk', sa.Integer(), nullable=False),
    sa.Column('contact_alias', sa.String(length=255), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('channel_type', sa.String(length=8), nullable=False),
    sa.Column('retry_interval', sa.Integer(), nullable=False),
    sa.Column('accept_code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.Column('sent_time', sa.Float(precision=53), nullable=True),
    sa.Column('delivery_time', sa.Float(precision=53), nullable=True),
    sa.Column('read_time', sa.Float(precision=53), nullable=True),
    sa.Column('provider_message_id', sa.String(length=256), nullable=True),
    sa.Column('worker', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['engagement_pk'], ['engagements.id'], name=op.f('fk_pages_engagement_pk_engagements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['track_pk'], ['engagement_tracks.id'], name=op.f('fk_pages_track_pk_engagement_tracks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pages')),
    sa.UniqueConstraint('page_id', name=op.f('uq_pages_page_id')),
    sa.UniqueConstraint('track_pk', 'stage', 'channel_id', name='uq_pages_channel')
    )
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.create_index('ix_pages_contact', ['account', 'region', 'contact_alias', 'id'], unique=False)
        batch_op.create_index('ix_pages_engagement', ['engagement_pk', 'id'], unique=False)
        batch_op.create_index('ix_pages_provider', ['provider_message_id'], unique=False)

    op.create_table('page_receipts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('page_pk', sa.Integer(), nullable=False),
    sa.Column('receipt_type', sa.String(length=16), nullable=False),
    sa.Column('channel_arn', sa.String(length=2048), nullable=True),
    sa.Column('info', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('receipt_time', sa.Float(precision=53), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['page_pk'], ['pages.id'], name=op.f('fk_page_receipts_page_pk_pages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_receipts')),
    sa.UniqueConstraint('receipt_id', name=op.f('uq_page_receipts_receipt_id'))
    )
    with op.batch_alter_table('page_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_page_receipts_page', ['page_pk', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('page_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_page_receipts_page')

    op.drop_table('page_receipts')
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_index('ix_pages_provider')
        batch_op.drop_index('ix_pages_engagement')
        batch_op.drop_index('ix_pages_contact')

    op.drop_table('pages')
    with op.batch_alter_table('engine_timers', schema=None) as batch_op:
        batch_op.drop_index('ix_engine_timers_due')

    op.drop_table('engine_timers')
    with op.batch_alter_table('engagement_tracks', schema=None) as batch_op:
        batch_op.drop_index('ix_engagement_tracks_person')

    op.drop_table('engagement_tracks')
    with op.batch_alter_table('engagement_events', schema=None) as batch_op:
        batch_op.drop_index('ix_engagement_events_engagement')

    op.drop_table('engagement_events')
    with op.batch_alter_table('engagements', schema=None) as batch_op:
        batch_op.drop_index('ix_engagements_listing')
        batch_op.drop_index('ix_engagements_incident')

    op.drop_table('engagements')
