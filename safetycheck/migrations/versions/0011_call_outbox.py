"""call outbox

Escalation calls (issue 13): one row per person phoned for a ladder step, written in the step's
transaction and placed by the sweep with the text outbox's rules (claim, restamp, reconcile,
retry). What happened on the line (Twilio's call status, AnsweredBy, the key pressed, the
outcome) is filled in by the signed voice webhooks. Like sms_outbox, a row is never deleted and
what was decided (whom, what was said, why, when) is frozen once written.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 03:30:00

"""
from alembic import op
import sqlalchemy as sa
import safetycheck.db


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

FROZEN = ("dedupe_key", "to_phone", "recipient_id", "alarm_id", "step_execution", "script", "created_at")


def upgrade():
    op.create_table('call_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('to_phone', sa.String(length=20), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('step_execution', sa.Integer(), nullable=True),
    sa.Column('script', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'delivered', 'failed', 'undeliverable', 'cancelled', name='outboxstatus', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', safetycheck.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('claimed_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome_unknown_since', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sid', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_message', sa.String(length=300), nullable=True),
    sa.Column('sent_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('provider_status', sa.String(length=20), nullable=True),
    sa.Column('answered_by', sa.String(length=30), nullable=True),
    sa.Column('digits', sa.String(length=20), nullable=True),
    sa.Column('ringing_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('acknowledged', 'other_key', 'no_keypress', 'voicemail', 'no_answer', 'busy', 'failed', 'canceled', name='calloutcome', native_enum=False, length=20), nullable=True),
    sa.Column('status_updated_at', safetycheck.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_call_outbox_alarm_id_alarms')),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_call_outbox_recipient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_call_outbox_dedupe_key')),
    sa.UniqueConstraint('sid', name=op.f('uq_call_outbox_sid'))
    )
    with op.batch_alter_table('call_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_outbox_alarm_id'), ['alarm_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_outbox_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index('ix_call_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_outbox_to_phone'), ['to_phone'], unique=False)
    _freeze()


def _freeze():
    """No DELETE, and what was decided cannot be rewritten (as 0008 does for sms_outbox)."""
    if op.get_bind().dialect.name == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN)
        op.execute(f"""
            CREATE FUNCTION call_outbox_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
                    RAISE EXCEPTION 'call_outbox is append-only: % refused', TG_OP;
                END IF;
                IF {changed} THEN
                    RAISE EXCEPTION 'call_outbox: what was decided cannot be rewritten';
                END IF;
                RETURN NEW;
            END $$""")
        op.execute("CREATE TRIGGER call_outbox_guard BEFORE UPDATE OR DELETE ON call_outbox "
                   "FOR EACH ROW EXECUTE FUNCTION call_outbox_guard()")
        op.execute("CREATE TRIGGER call_outbox_no_truncate BEFORE TRUNCATE ON call_outbox "
                   "FOR EACH STATEMENT EXECUTE FUNCTION call_outbox_guard()")
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FROZEN)
        op.execute("CREATE TRIGGER call_outbox_no_delete BEFORE DELETE ON call_outbox "
                   "BEGIN SELECT RAISE(ABORT, 'call_outbox is append-only: DELETE refused'); END")
        op.execute(f"CREATE TRIGGER call_outbox_frozen BEFORE UPDATE ON call_outbox WHEN {changed} "
                   "BEGIN SELECT RAISE(ABORT, 'call_outbox: what was decided cannot be rewritten'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS call_outbox_no_truncate ON call_outbox")
        op.execute("DROP TRIGGER IF EXISTS call_outbox_guard ON call_outbox")
        op.execute("DROP FUNCTION IF EXISTS call_outbox_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS call_outbox_frozen")
        op.execute("DROP TRIGGER IF EXISTS call_outbox_no_delete")
    with op.batch_alter_table('call_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_outbox_to_phone'))
        batch_op.drop_index('ix_call_outbox_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_call_outbox_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_call_outbox_alarm_id'))
    op.drop_table('call_outbox')
