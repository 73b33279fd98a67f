"""coverage checks

The daily coverage check's result (one row per local day, and the teams it found without cover
in the coming week), and the admin alerts about teams without cover (one per team and local
day, which the unique key enforces across processes).

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-02 03:40:00

"""
from alembic import op
import sqlalchemy as sa
import safetycheck.db


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cover_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('checked_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('horizon_until', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('teams_checked', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cover_checks')),
    sa.UniqueConstraint('day', name=op.f('uq_cover_checks_day'))
    )
    op.create_table('cover_gaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['cover_checks.id'], name=op.f('fk_cover_gaps_check_id_cover_checks')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_cover_gaps_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cover_gaps'))
    )
    with op.batch_alter_table('cover_gaps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cover_gaps_check_id'), ['check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cover_gaps_team_id'), ['team_id'], unique=False)

    op.create_table('cover_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('alerted_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('admins_texted', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_cover_alerts_team_id_teams')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_cover_alerts_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cover_alerts')),
    sa.UniqueConstraint('team_id', 'day', name=op.f('uq_cover_alerts_team_id_day'))
    )
    with op.batch_alter_table('cover_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cover_alerts_team_id'), ['team_id'], unique=False)


def downgrade():
    with op.batch_alter_table('cover_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cover_alerts_team_id'))
    op.drop_table('cover_alerts')
    with op.batch_alter_table('cover_gaps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cover_gaps_team_id'))
        batch_op.drop_index(batch_op.f('ix_cover_gaps_check_id'))
    op.drop_table('cover_gaps')
    op.drop_table('cover_checks')
