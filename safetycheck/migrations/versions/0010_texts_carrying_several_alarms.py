"""texts carrying several alarms

`sms_outbox_alarms` records which alarms (and ladder executions) each escalation text carried:
one row for a single alarm's text, one per alarm for a bundled text (several alarms for one
person decided in the same sweep batch, see docs/escalation.md "Bundling"). Its unique key
(alarm, execution, recipient) is the per-alarm exactly-once backstop, now that one outbox row
can stand for several decisions. Existing escalation texts are linked to their one alarm.

Like the outbox it is evidence of who was told what: no UPDATE, no DELETE (and on PostgreSQL no
TRUNCATE), with the triggers of 0008.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 03:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLE = "sms_outbox_alarms"


def upgrade():
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('step_execution', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_sms_outbox_alarms_alarm_id_alarms')),
    sa.ForeignKeyConstraint(['message_id'], ['sms_outbox.id'], name=op.f('fk_sms_outbox_alarms_message_id_sms_outbox')),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_sms_outbox_alarms_recipient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox_alarms')),
    sa.UniqueConstraint('alarm_id', 'step_execution', 'recipient_id', name=op.f('uq_sms_outbox_alarms_alarm_id_step_execution_recipient_id'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_outbox_alarms_alarm_id'), ['alarm_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_outbox_alarms_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_outbox_alarms_recipient_id'), ['recipient_id'], unique=False)

    op.execute(f"""
        INSERT INTO {TABLE} (message_id, alarm_id, step_execution, recipient_id, position)
        SELECT id, alarm_id, step_execution, recipient_id, 0 FROM sms_outbox
        WHERE purpose = 'escalation' AND alarm_id IS NOT NULL AND step_execution IS NOT NULL
          AND recipient_id IS NOT NULL
    """)

    if op.get_bind().dialect.name == "postgresql":
        # safetycheck_refuse_rewrite() comes from 0008.
        for when, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{when.lower()} BEFORE {when} ON {TABLE} "
                       f"FOR EACH {level} EXECUTE FUNCTION safetycheck_refuse_rewrite()")
    else:
        for when in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{when.lower()} BEFORE {when} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, 'rows of {TABLE} cannot be {when.lower()}d'); END")


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for when in ("update", "delete", "truncate") if postgres else ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{when} ON {TABLE}" if postgres
                   else f"DROP TRIGGER IF EXISTS {TABLE}_no_{when}")
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_outbox_alarms_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_sms_outbox_alarms_message_id'))
        batch_op.drop_index(batch_op.f('ix_sms_outbox_alarms_alarm_id'))
    op.drop_table(TABLE)
