"""Escalation's answers to what the visits package announces (subscribed in `setup.init_app`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from safetycheck import wording as texts
from safetycheck.engine import wake
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import bundling, context, ladder, outbox
from safetycheck.escalation.enums import AlarmKind, AlarmOutcome, MessagePurpose
from safetycheck.timeline import service as timeline
from safetycheck.visits import events as visit_events


def subscribe() -> None:
    visit_events.overdue_visit_extended.subscribe(stand_down_extended)
    visit_events.visit_checked_out.subscribe(after_check_out)
    visit_events.visit_went_overdue.subscribe(raise_overdue_alarm)
    visit_events.reminder_due.subscribe(send_reminder)
    visit_events.reminder_lead.answer_with(reminder_lead)


def stand_down_extended(event: visit_events.OverdueVisitExtended) -> None:
    """The worker extended an overdue visit: its alarm ends, and those texted hear why."""
    alarm_service.stand_down_for_visit(
        event.visit,
        now=event.now,
        outcome=AlarmOutcome.EXTENDED,
        actor_id=event.actor_id,
        reason=f"they replied and extended their visit by {event.minutes} minutes.",
    )


def after_check_out(event: visit_events.VisitCheckedOut) -> None:
    """The duress PIN raises a duress alarm (replacing an overdue one); a late check-out stands down."""
    visit, practitioner, now = event.visit, event.practitioner, event.now
    if event.duress:
        if event.late:
            alarm_service.supersede_with_duress(visit, now=now, actor_id=practitioner.id)
        where = event.last_location
        alarm_service.raise_alarm(
            kind=AlarmKind.DURESS,
            practitioner=practitioner,
            now=now,
            visit_id=visit.id,
            location=alarm_service.Location(where.lat, where.lon, where.accuracy_m) if where else None,
            dedupe_key=f"duress:visit:{visit.id}",
            actor_id=practitioner.id,
        )
        wake.request_wake()  # on commit, not at the sweep's next tick
    elif event.late:
        alarm_service.stand_down_for_visit(
            visit,
            now=now,
            outcome=AlarmOutcome.CHECKED_OUT,
            actor_id=practitioner.id,
            reason="they checked out safely.",
        )


def raise_overdue_alarm(event: visit_events.VisitWentOverdue) -> None:
    """An overdue visit gets an overdue alarm whose first step is taken now."""
    visit, now = event.visit, event.now
    esc = context.current()
    alarm = alarm_service.raise_alarm(
        kind=AlarmKind.OVERDUE,
        practitioner=event.practitioner,
        now=now,
        visit_id=visit.id,
        origin_at=visit.due_at,
        dedupe_key=f"overdue:visit:{visit.id}:due:{visit.due_at.isoformat()}",
    )
    timeline.record("visit", visit.id, "overdue", at=now, alarm_id=alarm.id)
    bundling.until_commit()  # a manager texted about several of this batch's visits gets one text
    ladder.advance_alarm(alarm, rules=esc.rules, now=now, tz=esc.tz)


def send_reminder(event: visit_events.ReminderDue) -> None:
    visit = event.visit
    outbox.enqueue(
        dedupe_key=f"reminder:visit:{visit.id}:due:{visit.due_at.isoformat()}",
        purpose=MessagePurpose.REMINDER,
        recipient=event.practitioner,
        body=texts.reminder(address=visit.address, due_at=visit.due_at, tz=context.current().tz),
        now=event.now,
        visit_id=visit.id,
    )


def reminder_lead(now: datetime) -> timedelta:
    """How long before due the policy reminds the worker (zero: no reminders)."""
    return timedelta(seconds=context.current().rules.reminder_before_seconds)
