"""on-call rota

On-call becomes a schedule: layers of cover (an active window such as out of hours; the higher
priority wins), rotations of people taking turns (per team or across teams, hand-over time and
shift length), and overrides for a period. The old `users.on_call` flag is unchanged and keeps
its meaning: an override that is always on (docs/rota.md), so existing data needs no change.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-02 03:30:00

"""
from alembic import op
import sqlalchemy as sa
import safetycheck.db


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rota_layers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('windows', sa.JSON(), nullable=True),
    sa.Column('created_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_layers')),
    sa.UniqueConstraint('name', name=op.f('uq_rota_layers_name'))
    )
    op.create_table('rota_rotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('layer_id', sa.Integer(), nullable=True),
    sa.Column('handover_time', sa.Time(), nullable=False),
    sa.Column('shift_length', sa.Integer(), nullable=False),
    sa.Column('shift_unit', sa.Enum('hours', 'days', 'weeks', name='shiftunit', native_enum=False, length=20), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('created_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['rota_layers.id'], name=op.f('fk_rota_rotations_layer_id_rota_layers')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_rota_rotations_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_rotations'))
    )
    with op.batch_alter_table('rota_rotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rota_rotations_layer_id'), ['layer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rota_rotations_team_id'), ['team_id'], unique=False)

    op.create_table('rota_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rotation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['rotation_id'], ['rota_rotations.id'], name=op.f('fk_rota_members_rotation_id_rota_rotations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_rota_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_members')),
    sa.UniqueConstraint('rotation_id', 'user_id', name=op.f('uq_rota_members_rotation_id_user_id'))
    )
    with op.batch_alter_table('rota_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rota_members_rotation_id'), ['rotation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rota_members_user_id'), ['user_id'], unique=False)

    op.create_table('rota_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_rota_overrides_created_by_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_rota_overrides_team_id_teams')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_rota_overrides_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_overrides'))
    )
    with op.batch_alter_table('rota_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rota_overrides_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rota_overrides_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rota_overrides_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('rota_overrides')
    op.drop_table('rota_members')
    op.drop_table('rota_rotations')
    op.drop_table('rota_layers')
