"""Records that cannot be rewritten: the timeline, the outbox and the texts received refuse
updates and deletes in the database itself (migration 0008), on SQLite and PostgreSQL; the
outbox's delivery columns still change while a text is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from safetycheck.escalation.models import InboundSms, OutboxMessage
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.timeline.models import TimelineEntry

PACKAGE = Path(__file__).resolve().parents[2] / "safetycheck"


@pytest.fixture
def records(ctx, clock, org):
    entry = timeline.record("visit", 1, "checked_in", at=clock.now(), actor_id=org.practitioner.id)
    text = OutboxMessage(
        dedupe_key="test:1",
        purpose="escalation",
        to_phone=org.manager.phone,
        recipient_id=org.manager.id,
        body="Priya Practitioner is overdue. Reply ACK AB12 to take charge",
        created_at=clock.now(),
    )
    received = InboundSms(
        message_sid="SM" + "1" * 32, from_phone=org.manager.phone, body="ACK AB12", received_at=clock.now()
    )
    db.session.add_all([text, received])
    db.session.flush()
    return entry.id, text.id, received.id


def refused(statement: sa.Executable) -> str:
    """Run the statement in a savepoint; the database must refuse it."""
    savepoint = db.session.begin_nested()
    with pytest.raises(sa.exc.DatabaseError) as caught:
        db.session.execute(statement)
    savepoint.rollback()
    return str(caught.value.orig)


def test_timeline_entries_cannot_be_updated_or_deleted(records) -> None:
    entry_id = records[0]
    row = TimelineEntry.__table__
    assert "cannot be updated" in refused(sa.update(row).where(row.c.id == entry_id).values(event="x"))
    assert "cannot be deleted" in refused(sa.delete(row).where(row.c.id == entry_id))
    assert db.session.get(TimelineEntry, entry_id).event == "checked_in"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("body", "something else"),
        ("to_phone", "+447700900123"),
        ("dedupe_key", "other"),
        ("recipient_id", None),
    ],
)
def test_what_a_text_says_and_to_whom_cannot_change(records, column, value) -> None:
    row = OutboxMessage.__table__
    message = refused(sa.update(row).where(row.c.id == records[1]).values({column: value}))
    assert "cannot be changed" in message


def test_a_text_moves_through_its_delivery_states_but_is_never_deleted(records, clock) -> None:
    row = OutboxMessage.__table__
    db.session.execute(
        sa.update(row)
        .where(row.c.id == records[1])
        .values(status="sent", attempts=1, sid="SM" + "2" * 32, sent_at=clock.now(), provider_status="sent")
    )
    assert db.session.get(OutboxMessage, records[1]).status == "sent"
    assert "cannot be deleted" in refused(sa.delete(row).where(row.c.id == records[1]))


def test_a_received_text_is_kept_as_it_arrived(records) -> None:
    row = InboundSms.__table__
    db.session.execute(
        sa.update(row).where(row.c.id == records[2]).values(command="ack", result="acknowledged")
    )
    assert "cannot be changed" in refused(sa.update(row).where(row.c.id == records[2]).values(body="OK"))
    assert "cannot be deleted" in refused(sa.delete(row).where(row.c.id == records[2]))


def test_truncate_is_refused_on_postgresql(records) -> None:
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    for table in ("timeline_entries", "sms_outbox", "sms_inbound"):
        assert "cannot be truncated" in refused(sa.text(f"TRUNCATE {table} CASCADE"))


def test_the_code_has_no_update_or_delete_path_for_the_history() -> None:
    """Statements that rewrite the timeline or inbound texts, or delete texts, appear nowhere."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for pattern in (
            "update(TimelineEntry",
            "delete(TimelineEntry",
            "delete(OutboxMessage",
            "delete(InboundSms",
            "update(InboundSms",
        ):
            if pattern in text:
                offenders.append(f"{path.relative_to(PACKAGE)}: {pattern}")
    assert offenders == []
