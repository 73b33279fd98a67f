"""outbox urgency

`sms_outbox.urgency` (lower is sooner): the claim takes the most urgent due text first, then the
earliest due, so a panic in the middle of a burst of reminders leaves next
(`safetycheck/escalation/urgency.py`). Existing rows are backfilled from their purpose and their
alarm's kind. The claim's index becomes (status, urgency, next_attempt_at); the old
(status, next_attempt_at) index is kept, for the metrics' and the engine's "oldest due" queries.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Urgency values as stored (safetycheck.escalation.urgency.Urgency); copied, not imported, so this
# migration keeps meaning what it meant when the code moves on.
PANIC, ESCALATION, PRACTITIONER, NOTICE = 0, 10, 20, 30


def upgrade():
    # A plain ADD COLUMN, not a batch copy: on SQLite a copy would drop 0008's triggers.
    op.add_column('sms_outbox', sa.Column('urgency', sa.SmallInteger(), nullable=False,
                                          server_default=str(NOTICE)))
    # Only `urgency` is written: the frozen columns (migration 0008's triggers) stay untouched.
    op.execute(f"""
        UPDATE sms_outbox SET urgency = CASE
            WHEN purpose = 'escalation' AND EXISTS (
                SELECT 1 FROM alarms a WHERE a.id = sms_outbox.alarm_id AND a.kind IN ('panic', 'duress')
            ) THEN {PANIC}
            WHEN purpose = 'escalation' AND EXISTS (
                SELECT 1 FROM alarms a WHERE a.id = sms_outbox.alarm_id
                AND a.practitioner_id = sms_outbox.recipient_id
            ) THEN {PRACTITIONER}
            WHEN purpose = 'escalation' THEN {ESCALATION}
            WHEN purpose = 'reply' THEN {PRACTITIONER}
            ELSE {NOTICE}
        END
    """)
    op.create_index('ix_sms_outbox_status_urgency_next_attempt_at', 'sms_outbox',
                    ['status', 'urgency', 'next_attempt_at'])


def downgrade():
    op.drop_index('ix_sms_outbox_status_urgency_next_attempt_at', table_name='sms_outbox')
    op.drop_column('sms_outbox', 'urgency')
