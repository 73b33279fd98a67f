"""register rollups and the indexes the summary reads

The summary over a million incidents scanned the period every time. These tables hold its counts
per UTC month (kept by the `reporting.rollups` sweep part, see docs/incidents.md "Register
rollups"); the index on the reporting lag (PostgreSQL) lets the exact percentiles read only the
rows of one lag bucket; (checked_in_at, team_id) counts a live month's visits from the index;
the open steps by due time and the RIDDOR deadlines serve the summary's overdue and RIDDOR lists.

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-02 03:40:00

"""
from alembic import op
import sqlalchemy as sa
import safetycheck.db


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def _month_table(name, *columns):
    op.create_table(
        name,
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
    )


def upgrade():
    _month_table(
        'register_month_counts',
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('category', sa.String(length=30), nullable=True),
        sa.Column('incidents', sa.Integer(), nullable=False),
        sa.Column('near_misses', sa.Integer(), nullable=False),
        sa.Column('harmed', sa.Integer(), nullable=False),
        sa.Column('at_marked', sa.Integer(), nullable=False),
    )
    op.create_index('ix_register_month_counts_month_team', 'register_month_counts', ['month', 'team_id'])
    _month_table(
        'register_month_lags',
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('reports', sa.Integer(), nullable=False),
    )
    op.create_index(
        'ix_register_month_lags_month_team', 'register_month_lags', ['month', 'team_id', 'bucket', 'reports']
    )
    _month_table(
        'register_month_visits',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('visits', sa.Integer(), nullable=False),
    )
    op.create_index('ix_register_month_visits_month_team', 'register_month_visits', ['month', 'team_id'])
    _month_table(
        'register_month_households',
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('incidents', sa.Integer(), nullable=False),
        sa.Column('last_occurred_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index(
        'ix_register_month_households_month',
        'register_month_households',
        ['month', 'household_id', 'incidents', 'last_occurred_at'],
    )
    _month_table(
        'register_month_reporters',
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('reporter_id', sa.Integer(), nullable=False),
        sa.Column('incidents', sa.Integer(), nullable=False),
    )
    op.create_index('ix_register_month_reporters_month_team', 'register_month_reporters', ['month', 'team_id'])
    _month_table('register_rollup_dirty')
    op.create_index(op.f('ix_register_rollup_dirty_month'), 'register_rollup_dirty', ['month'])
    op.create_table(
        'register_rollup_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sealed_through', sa.String(length=7), nullable=True),
        sa.Column('refreshed_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_rollup_state')),
    )
    op.create_index('ix_visits_checked_in_at_team_id', 'visits', ['checked_in_at', 'team_id'])
    open_ = sa.text("status NOT IN ('draft', 'closed')")
    op.create_index(
        'ix_incidents_open_step_due_at',
        'incidents',
        ['step_due_at', 'id', 'team_id', 'status'],
        postgresql_where=open_,
        sqlite_where=open_,
    )
    reported = sa.text("status <> 'draft'")
    op.create_index(
        'ix_incidents_team_households',
        'incidents',
        ['team_id', 'occurred_at', 'household_id'],
        postgresql_where=reported,
        sqlite_where=reported,
    )
    op.create_index('ix_incident_riddor_report_by', 'incident_riddor', ['report_by', 'incident_id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "CREATE INDEX ix_incidents_report_lag ON incidents "
            "((EXTRACT(epoch FROM reported_at - occurred_at)), occurred_at, team_id, reported_at) "
            "WHERE status <> 'draft' AND reported_at IS NOT NULL"
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX ix_incidents_report_lag")
    op.drop_index('ix_incident_riddor_report_by', table_name='incident_riddor')
    op.drop_index('ix_incidents_team_households', table_name='incidents')
    op.drop_index('ix_incidents_open_step_due_at', table_name='incidents')
    op.drop_index('ix_visits_checked_in_at_team_id', table_name='visits')
    for name in (
        'register_rollup_state',
        'register_rollup_dirty',
        'register_month_reporters',
        'register_month_households',
        'register_month_visits',
        'register_month_lags',
        'register_month_counts',
    ):
        op.drop_table(name)
