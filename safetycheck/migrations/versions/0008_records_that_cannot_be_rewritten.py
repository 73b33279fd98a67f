"""records that cannot be rewritten

The timeline (every visit's, alarm's and incident's history, which is also the audit trail of
who did what), the outbox of texts and the record of texts received are evidence: after a serious
incident they show who was told what and when. The code has no path that updates or deletes
them; these triggers make the database refuse it too, whoever asks.

- timeline_entries: no UPDATE, no DELETE.
- sms_outbox: no DELETE. Its delivery columns (status, attempts, claims, sid, provider status,
  errors, sent and status times) legitimately change while a text is sent, so only what was
  decided is frozen once written: whom (to_phone, recipient_id), what (body, purpose), why
  (dedupe_key, alarm_id, visit_id, step_execution) and when (created_at).
- sms_inbound: no DELETE; what arrived (message_sid, from_phone, body, received_at) is frozen,
  while what the service made of it (user_id, command, result, reply) is filled in afterwards.

On PostgreSQL TRUNCATE is refused as well. SQLite gets the same row triggers, so a mistake shows
in the fast test run too. A database owner can still drop the triggers: they stop the service
and its bugs, not the operator of the database (docs/security.md, "a malicious admin").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OUTBOX_FROZEN = ("dedupe_key", "purpose", "to_phone", "recipient_id", "alarm_id", "visit_id",
                 "step_execution", "body", "created_at")
INBOUND_FROZEN = ("message_sid", "from_phone", "body", "received_at")
TABLES = ("timeline_entries", "sms_outbox", "sms_inbound")


def _changed(columns, new="NEW", old="OLD", distinct="IS DISTINCT FROM"):
    return " OR ".join(f"{new}.{c} {distinct} {old}.{c}" for c in columns)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql():
    op.execute("""
        CREATE FUNCTION safetycheck_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'rows of % cannot be %d', TG_TABLE_NAME, lower(TG_OP)
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'timeline, outbox and inbound texts are append-only records';
        END $$
    """)
    for table, frozen in (("sms_outbox", OUTBOX_FROZEN), ("sms_inbound", INBOUND_FROZEN)):
        op.execute(f"""
            CREATE FUNCTION safetycheck_guard_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {_changed(frozen)} THEN
                    RAISE EXCEPTION 'what was recorded in % cannot be changed', TG_TABLE_NAME
                        USING ERRCODE = 'integrity_constraint_violation',
                              HINT = 'only delivery and handling columns may change';
                END IF;
                RETURN NEW;
            END $$
        """)
        op.execute(f"CREATE TRIGGER {table}_frozen BEFORE UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION safetycheck_guard_{table}()")
    op.execute("CREATE TRIGGER timeline_entries_no_update BEFORE UPDATE ON timeline_entries "
               "FOR EACH ROW EXECUTE FUNCTION safetycheck_refuse_rewrite()")
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION safetycheck_refuse_rewrite()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION safetycheck_refuse_rewrite()")


def _upgrade_sqlite():
    def trigger(name, when, table, condition, message):
        where = f" WHEN {condition}" if condition else ""
        op.execute(f"CREATE TRIGGER {name} BEFORE {when} ON {table}{where} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")

    trigger("timeline_entries_no_update", "UPDATE", "timeline_entries", None,
            "rows of timeline_entries cannot be updated")
    for table in TABLES:
        trigger(f"{table}_no_delete", "DELETE", table, None, f"rows of {table} cannot be deleted")
    for table, frozen in (("sms_outbox", OUTBOX_FROZEN), ("sms_inbound", INBOUND_FROZEN)):
        trigger(f"{table}_frozen", "UPDATE", table, _changed(frozen, distinct="IS NOT"),
                f"what was recorded in {table} cannot be changed")


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    names = ["timeline_entries_no_update", "sms_outbox_frozen", "sms_inbound_frozen"]
    names += [f"{t}_no_delete" for t in TABLES]
    if postgres:
        names += [f"{t}_no_truncate" for t in TABLES]
    for name in names:
        table = next(t for t in TABLES if name.startswith(t))
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if postgres else f"DROP TRIGGER IF EXISTS {name}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS safetycheck_guard_sms_outbox()")
        op.execute("DROP FUNCTION IF EXISTS safetycheck_guard_sms_inbound()")
        op.execute("DROP FUNCTION IF EXISTS safetycheck_refuse_rewrite()")
