"""contacts, channels, tags, activation codes, outbox

Revision ID: 0001
Revises: 
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.Column('policy', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('account', 'region', 'alias', name='uq_contacts_alias')
    )
    op.create_table('idempotency',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('token', sa.String(length=2048), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency')),
    sa.UniqueConstraint('account', 'region', 'operation', 'token', name='uq_idempotency_token')
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('channel_arn', sa.String(length=2048), nullable=False),
    sa.Column('channel_type', sa.String(length=8), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('page_arn', sa.String(length=2048), nullable=True),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('speech', sa.Text(), nullable=True),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Float(precision=53), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.Float(precision=53), nullable=True),
    sa.Column('provider_message_id', sa.String(length=256), nullable=True),
    sa.Column('sent_at', sa.Float(precision=53), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_channel', ['channel_arn', 'id'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('server_secrets',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_server_secrets'))
    )
    op.create_table('tags',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_arn', sa.String(length=2048), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('resource_arn', 'key', name='uq_tags_key')
    )
    op.create_table('channels',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('contact_pk', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('address_index', sa.String(length=64), nullable=False),
    sa.Column('activation_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.ForeignKeyConstraint(['contact_pk'], ['contacts.id'], name=op.f('fk_channels_contact_pk_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels')),
    sa.UniqueConstraint('channel_id', name=op.f('uq_channels_channel_id')),
    sa.UniqueConstraint('contact_pk', 'type', 'address_index', name='uq_channels_address')
    )
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.create_index('ix_channels_contact', ['contact_pk', 'id'], unique=False)

    op.create_table('delivery_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.Float(precision=53), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('worker', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['message_pk'], ['outbox.id'], name=op.f('fk_delivery_attempts_message_pk_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempts_message_pk'), ['message_pk'], unique=False)

    op.create_table('activation_codes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel_pk', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.Column('expires_at', sa.Float(precision=53), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('voided_at', sa.Float(precision=53), nullable=True),
    sa.ForeignKeyConstraint(['channel_pk'], ['channels.id'], name=op.f('fk_activation_codes_channel_pk_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_codes'))
    )
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.create_index('ix_activation_codes_channel', ['channel_pk', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_activation_codes_channel')

    op.drop_table('activation_codes')
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempts_message_pk'))

    op.drop_table('delivery_attempts')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_index('ix_channels_contact')

    op.drop_table('channels')
    op.drop_table('tags')
    op.drop_table('server_secrets')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index('ix_outbox_channel')

    op.drop_table('outbox')
    op.drop_table('idempotency')
    op.drop_table('contacts')
