"""Urgency first: the outbox claims the most urgent due text, then the earliest due.

Panic and duress before the ladder's texts to managers and on-call, those before texts to the
worker, and notices, stand-downs and reminders last. The urgency is stored on each row when the
text is queued, from its purpose and its alarm, so a panic queued behind a burst of a thousand
reminders is the very next text claimed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from safetycheck.escalation import outbox
from safetycheck.escalation.enums import AlarmKind, MessagePurpose
from safetycheck.escalation.urgency import Urgency, urgency_for
from safetycheck.extensions import db
from tests.escalation import helpers as h


def test_urgency_follows_purpose_alarm_kind_and_recipient() -> None:
    escalation = MessagePurpose.ESCALATION
    assert urgency_for(escalation, alarm_kind=AlarmKind.PANIC) == Urgency.PANIC
    assert urgency_for(escalation, alarm_kind=AlarmKind.DURESS) == Urgency.PANIC
    assert urgency_for(escalation, alarm_kind=AlarmKind.OVERDUE) == Urgency.ESCALATION
    assert urgency_for(escalation, alarm_kind=AlarmKind.INCIDENT) == Urgency.ESCALATION
    assert urgency_for(escalation, alarm_kind=AlarmKind.OVERDUE, to_practitioner=True) == Urgency.PRACTITIONER
    assert urgency_for(MessagePurpose.REPLY) == Urgency.PRACTITIONER
    for notice in (
        MessagePurpose.TAKEN_CHARGE,
        MessagePurpose.STAND_DOWN,
        MessagePurpose.REMINDER,
        MessagePurpose.INCIDENT,
    ):
        assert urgency_for(notice) == Urgency.NOTICE
    assert Urgency.PANIC < Urgency.ESCALATION < Urgency.PRACTITIONER < Urgency.NOTICE


def test_texts_queued_by_the_ladder_carry_their_urgency(app, clock, org, as_user, worker, console_sms, sweep):
    visit = h.check_in(worker, minutes=30)
    h.move_to(clock, h.due_at(visit), hours=2)  # every step of the overdue ladder is due
    sweep()
    answer = as_user(org.colleague).post("/api/v1/alarms", json={"kind": "panic"})
    assert answer.status_code == 201
    sweep()

    rows = h.outbox(app)
    to_worker = [
        r for r in rows if r.purpose == MessagePurpose.ESCALATION and r.recipient_id == org.practitioner.id
    ]
    overdue_to_managers = [
        r for r in rows if r.visit_id == visit["id"] and r.recipient_id != org.practitioner.id
    ]
    panic_texts = [r for r in rows if r.alarm_id is not None and r.visit_id is None]
    assert to_worker
    assert overdue_to_managers
    assert panic_texts
    assert {r.urgency for r in to_worker} == {Urgency.PRACTITIONER}
    assert {r.urgency for r in overdue_to_managers} == {Urgency.ESCALATION}
    assert {r.urgency for r in panic_texts} == {Urgency.PANIC}


def test_a_panic_queued_behind_a_thousand_reminders_is_claimed_next(ctx, clock, org) -> None:
    now = clock.now()
    for i in range(1000):
        outbox.enqueue(
            dedupe_key=f"burst:{i}",
            purpose=MessagePurpose.REMINDER,
            recipient=org.colleague,
            body=f"r{i}",
            now=now,
        )
    db.session.commit()
    first = outbox.claim_batch(now=now, limit=10)
    assert [c.body for c in first] == [f"r{i}" for i in range(10)]  # equals: oldest first
    db.session.commit()

    # The panic is decided later than every reminder, and due later too.
    clock.advance(seconds=5)
    alarm = _panic_alarm(org, now=clock.now())
    panic_text = outbox.enqueue(
        dedupe_key="burst:panic",
        purpose=MessagePurpose.ESCALATION,
        recipient=org.manager,
        body="PANIC",
        now=clock.now(),
        alarm_id=alarm.id,
    )
    stand_down = outbox.enqueue(
        dedupe_key="burst:stand-down",
        purpose=MessagePurpose.STAND_DOWN,
        recipient=org.manager,
        body="stand down",
        now=clock.now() - timedelta(seconds=4),
    )
    db.session.commit()
    assert panic_text is not None
    assert stand_down is not None

    [claimed] = outbox.claim_batch(now=clock.now(), limit=1)
    assert claimed.id == panic_text.id
    db.session.commit()
    # After it, the backlog goes on by due time: the stand-down (due 4 s earlier) waits its turn.
    nxt = outbox.claim_batch(now=clock.now(), limit=1)
    assert [c.body for c in nxt] == ["r10"]


def _panic_alarm(org: Any, *, now: Any) -> Any:
    from safetycheck.escalation import panic

    return panic.raise_panic(org.practitioner, now=now)


def test_a_panic_is_decided_before_overdue_steps_that_fell_due_earlier(
    app, clock, org, as_user, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    h.move_to(clock, h.due_at(visit))
    sweep()  # overdue: its first step
    h.move_to(clock, h.due_at(visit), hours=2)  # its next steps are due, long before the panic
    answer = as_user(org.colleague).post("/api/v1/alarms", json={"kind": "panic"})
    assert answer.status_code == 201
    panic_id = answer.get_json()["id"]
    overdue_id = h.only_alarm(app, visit["id"]).id
    sweep()

    decided_panic = h.timeline(app, "alarm", panic_id, "escalated")
    decided_overdue = h.timeline(app, "alarm", overdue_id, "escalated")
    assert len(decided_overdue) == 2
    assert decided_panic[0].id < decided_overdue[-1].id, "the panic waited behind an overdue step"
