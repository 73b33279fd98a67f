"""unique phone numbers, and team names unique ignoring case

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

An inbound text is matched to its sender by phone number alone, so two users sharing a number
could check each other out. A database that already holds such pairs (or teams whose names differ
only in case) is refused, naming them, rather than changed: which account keeps the number is for
an admin to decide. Nothing is deleted.
"""
from alembic import op
from alembic.util import CommandError
import sqlalchemy as sa
import safetycheck.db


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _clashes(sql: str) -> dict[str, list[str]]:
    """Rows grouped by the value they share, for the refusal message."""
    groups: dict[str, list[str]] = {}
    for key, described in op.get_bind().execute(sa.text(sql)):
        groups.setdefault(key, []).append(described)
    return groups


def _refuse_duplicates() -> None:
    phones = _clashes(
        "SELECT phone, 'user ' || id || ' (' || email || ')' FROM users"
        " WHERE phone IN (SELECT phone FROM users GROUP BY phone HAVING count(*) > 1)"
        " ORDER BY phone, id"
    )
    teams = _clashes(
        "SELECT lower(name), 'team ' || id || ' (' || name || ')' FROM teams"
        " WHERE lower(name) IN (SELECT lower(name) FROM teams GROUP BY lower(name) HAVING count(*) > 1)"
        " ORDER BY lower(name), id"
    )
    if not phones and not teams:
        return
    lines = [f"  {phone}: {', '.join(users)}" for phone, users in phones.items()]
    lines += [f"  {', '.join(named)} differ only in case" for named in teams.values()]
    raise CommandError(
        "Cannot upgrade to 0005: phone numbers and team names must be unique, and these clash:\n"
        + "\n".join(lines)
        + "\nGive each user a number of their own (PATCH /api/v1/users/<id> with a new phone) and"
        " rename or merge the teams, then run the upgrade again. Nothing was changed."
    )


def upgrade():
    _refuse_duplicates()
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_teams_name'), type_='unique')
    # Outside the batch: SQLite's table copy cannot carry an expression index.
    op.create_index('uq_teams_lower_name', 'teams', [sa.text('lower(name)')], unique=True)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone'))
        batch_op.create_index(batch_op.f('ix_users_phone'), ['phone'], unique=True)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone'))
        batch_op.create_index(batch_op.f('ix_users_phone'), ['phone'], unique=False)

    op.drop_index('uq_teams_lower_name', table_name='teams')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_teams_name'), ['name'])
