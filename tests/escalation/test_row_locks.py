"""Every path that locks an alarm or a visit row works on the database under test.

Visit and Alarm eagerly join their practitioner (and User its team) with outer joins, and
PostgreSQL refuses `FOR UPDATE` on the nullable side of an outer join; SQLite ignores FOR UPDATE
altogether. So each locking path is run once here, to fail on PostgreSQL if a lock ever covers
the joined tables again (they lock `OF` their own table).
"""

from __future__ import annotations

from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import ladder, panic
from safetycheck.escalation.enums import AlarmKind, AlarmOutcome, AlarmStatus
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from safetycheck.visits.enums import VisitStatus


def overdue_visit(org, clock, sweep, address: str):
    checked_in = visit_service.check_in(
        org.practitioner, address=address, now=clock.now(), max_minutes=720, duration_minutes=1
    )
    db.session.commit()
    clock.advance(minutes=1)
    report = sweep()  # locks visits (marking) and alarms (ladder steps)
    assert report.done["visits.mark_overdue"] == 1
    return checked_in.visit


def test_panic_pressed_twice_locks_the_open_alarm(ctx, org, clock, console_sms) -> None:
    first = panic.raise_panic(org.practitioner, now=clock.now())
    again = panic.raise_panic(org.practitioner, now=clock.now(), message="still here")
    db.session.commit()
    assert again.id == first.id


def test_acknowledge_and_resolve_lock_the_alarm_and_its_visit(ctx, org, clock, console_sms, sweep) -> None:
    visit = overdue_visit(org, clock, sweep, "1 Lock Lane")
    [alarm] = alarm_service.alarms_for_visit(org.manager, visit.id)

    alarm_service.acknowledge(alarm, actor=org.manager, now=clock.now(), via="api")
    alarm_service.resolve(alarm, actor=org.manager, now=clock.now(), outcome=AlarmOutcome.SAFE, notes=None)
    db.session.commit()

    assert alarm.status == AlarmStatus.RESOLVED
    assert db.session.get(type(visit), visit.id).status == VisitStatus.COMPLETED


def test_a_late_check_out_locks_the_overdue_alarm_to_stand_it_down(
    ctx, org, clock, console_sms, sweep
) -> None:
    visit = overdue_visit(org, clock, sweep, "2 Lock Lane")
    visit_service.check_out(org.practitioner, visit.id, now=clock.now())
    db.session.commit()
    [alarm] = alarm_service.alarms_for_visit(org.manager, visit.id)
    assert alarm.outcome == AlarmOutcome.CHECKED_OUT


def test_a_late_duress_check_out_locks_the_overdue_alarm_to_supersede_it(
    ctx, org, clock, console_sms, sweep
) -> None:
    visit = overdue_visit(org, clock, sweep, "3 Lock Lane")
    visit_service.check_out(org.practitioner, visit.id, now=clock.now(), pin="9911")
    db.session.commit()
    kinds = {a.kind: a.outcome for a in alarm_service.alarms_for_visit(org.manager, visit.id)}
    assert kinds == {AlarmKind.OVERDUE: AlarmOutcome.SUPERSEDED, AlarmKind.DURESS: None}


def test_skipping_a_dead_contact_and_acknowledging_an_incident_lock_alarms(
    ctx, org, clock, console_sms, sweep
) -> None:
    visit = overdue_visit(org, clock, sweep, "4 Lock Lane")
    [alarm] = alarm_service.alarms_for_visit(org.manager, visit.id)

    ladder.skip_dead_contact(alarm.id, now=clock.now(), rules=ctx.extensions["safetycheck.policy"])
    alarm_service.acknowledge_for_incident(-1, actor=org.manager, now=clock.now())
    db.session.commit()

    assert alarm.next_step_at == clock.now()  # pulled forward to now
