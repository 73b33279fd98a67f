"""keep a fingerprint of the check-in request with its idempotency key

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 10:00:00.000000

Rows stored before this have no fingerprint (null); a reused key is then matched by address.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_fingerprint', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('idempotency_fingerprint')
