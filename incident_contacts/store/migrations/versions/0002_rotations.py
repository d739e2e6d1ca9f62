"""rotations and rotation overrides

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rotations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('rotation_id', sa.String(length=36), nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('start_time', sa.Float(precision=53), nullable=False),
    sa.Column('time_zone', sa.String(length=255), nullable=False),
    sa.Column('recurrence', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotations')),
    sa.UniqueConstraint('rotation_id', name=op.f('uq_rotations_rotation_id'))
    )
    with op.batch_alter_table('rotations', schema=None) as batch_op:
        batch_op.create_index('ix_rotations_account', ['account', 'region', 'id'], unique=False)

    op.create_table('rotation_members',
    sa.Column('rotation_pk', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('contact_pk', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['contact_pk'], ['contacts.id'], name=op.f('fk_rotation_members_contact_pk_contacts')),
    sa.ForeignKeyConstraint(['rotation_pk'], ['rotations.id'], name=op.f('fk_rotation_members_rotation_pk_rotations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rotation_pk', 'position', name=op.f('pk_rotation_members'))
    )
    with op.batch_alter_table('rotation_members', schema=None) as batch_op:
        batch_op.create_index('ix_rotation_members_contact', ['contact_pk'], unique=False)

    op.create_table('rotation_overrides',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('override_id', sa.String(length=36), nullable=False),
    sa.Column('rotation_pk', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.Float(precision=53), nullable=False),
    sa.Column('end_time', sa.Float(precision=53), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.ForeignKeyConstraint(['rotation_pk'], ['rotations.id'], name=op.f('fk_rotation_overrides_rotation_pk_rotations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotation_overrides')),
    sa.UniqueConstraint('override_id', name=op.f('uq_rotation_overrides_override_id'))
    )
    with op.batch_alter_table('rotation_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_rotation_overrides_window', ['rotation_pk', 'end_time'], unique=False)

    op.create_table('override_members',
    sa.Column('override_pk', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('contact_pk', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['contact_pk'], ['contacts.id'], name=op.f('fk_override_members_contact_pk_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['override_pk'], ['rotation_overrides.id'], name=op.f('fk_override_members_override_pk_rotation_overrides'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('override_pk', 'position', name=op.f('pk_override_members'))
    )
    with op.batch_alter_table('override_members', schema=None) as batch_op:
        batch_op.create_index('ix_override_members_contact', ['contact_pk'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('override_members', schema=None) as batch_op:
        batch_op.drop_index('ix_override_members_contact')

    op.drop_table('override_members')
    with op.batch_alter_table('rotation_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_rotation_overrides_window')

    op.drop_table('rotation_overrides')
    with op.batch_alter_table('rotation_members', schema=None) as batch_op:
        batch_op.drop_index('ix_rotation_members_contact')

    op.drop_table('rotation_members')
    with op.batch_alter_table('rotations', schema=None) as batch_op:
        batch_op.drop_index('ix_rotations_account')

    op.drop_table('rotations')
