"""Visit rules below the API: the one-current-visit index, the timeline, extension bases, locking."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from safetycheck.accounts import service as account_service
from safetycheck.errors import Conflict, Forbidden
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits import service as visit_service
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit


def check_in(user_id: int, now, minutes: int = 60, **kw) -> Visit:
    user = account_service.get_user(user_id)
    result = visit_service.check_in(
        user, address="1 High St", duration_minutes=minutes, now=now, max_minutes=720, **kw
    )
    db.session.commit()
    return result.visit


def raw_visit(practitioner, now, status: VisitStatus, key: str | None = None) -> Visit:
    return Visit(
        practitioner_id=practitioner.id,
        team_id=practitioner.team_id,
        status=status,
        address="2 Low Rd",
        checked_in_at=now,
        due_at=now + timedelta(hours=1),
        warnings=[],
        idempotency_key=key,
    )


@pytest.mark.parametrize("second", [VisitStatus.ACTIVE, VisitStatus.OVERDUE])
def test_the_database_allows_one_current_visit_per_practitioner(ctx, clock, org, second) -> None:
    # The index, not only the service, enforces it: two check-ins racing cannot both win.
    db.session.add(raw_visit(org.practitioner, clock.now(), VisitStatus.ACTIVE))
    db.session.flush()
    db.session.add(raw_visit(org.practitioner, clock.now(), second))
    with pytest.raises(IntegrityError):
        db.session.flush()


def test_completed_visits_do_not_count_as_current(ctx, clock, org) -> None:
    for _ in range(2):
        db.session.add(raw_visit(org.practitioner, clock.now(), VisitStatus.COMPLETED))
    db.session.add(raw_visit(org.practitioner, clock.now(), VisitStatus.ACTIVE))
    db.session.add(raw_visit(org.colleague, clock.now(), VisitStatus.ACTIVE))
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 4


def test_an_idempotency_key_is_unique_per_practitioner_in_the_database(ctx, clock, org) -> None:
    db.session.add(raw_visit(org.practitioner, clock.now(), VisitStatus.COMPLETED, key="k"))
    db.session.add(raw_visit(org.colleague, clock.now(), VisitStatus.COMPLETED, key="k"))
    db.session.flush()
    db.session.add(raw_visit(org.practitioner, clock.now(), VisitStatus.ACTIVE, key="k"))
    with pytest.raises(IntegrityError):
        db.session.flush()


def test_the_idempotency_key_replays_even_after_check_out(ctx, clock, org) -> None:
    first = check_in(org.practitioner.id, clock.now(), idempotency_key="k1")
    visit_service.check_out(account_service.get_user(org.practitioner.id), first.id, now=clock.now())
    db.session.commit()

    replay = visit_service.check_in(
        account_service.get_user(org.practitioner.id),
        address="1 High St",
        duration_minutes=30,
        now=clock.now(),
        max_minutes=720,
        idempotency_key="k1",
    )
    assert replay.replayed
    assert replay.visit.id == first.id


def test_every_change_is_on_the_timeline_with_who_and_when(ctx, clock, org) -> None:
    visit = check_in(org.practitioner.id, clock.now(), minutes=30)
    priya = account_service.get_user(org.practitioner.id)
    start = clock.now()
    clock.advance(minutes=10)
    visit_service.extend(priya, visit.id, minutes=15, now=clock.now(), max_minutes=240, max_total_minutes=720)
    clock.advance(minutes=10)
    visit_service.check_out(priya, visit.id, now=clock.now())
    db.session.commit()

    entries = db.session.scalars(
        sa.select(TimelineEntry)
        .where(TimelineEntry.subject_type == "visit", TimelineEntry.subject_id == visit.id)
        .order_by(TimelineEntry.id)
    ).all()
    assert [(e.subject_type, e.event, e.actor_id, e.at - start) for e in entries] == [
        ("visit", "checked_in", priya.id, timedelta(0)),
        ("visit", "extended", priya.id, timedelta(minutes=10)),
        ("visit", "checked_out", priya.id, timedelta(minutes=20)),
    ]
    assert entries[1].details["previous_due_at"] == (start + timedelta(minutes=30)).isoformat()
    assert entries[1].details["due_at"] == (start + timedelta(minutes=45)).isoformat()


def test_an_active_visit_past_due_but_not_yet_swept_extends_from_now(ctx, clock, org) -> None:
    visit = check_in(org.practitioner.id, clock.now(), minutes=30)
    clock.advance(minutes=32)

    extended = visit_service.extend(
        account_service.get_user(org.practitioner.id),
        visit.id,
        minutes=10,
        now=clock.now(),
        max_minutes=240,
        max_total_minutes=720,
    )

    assert extended.due_at == clock.now() + timedelta(minutes=10)


def test_only_practitioners_check_in_and_only_their_own_visits(ctx, clock, org) -> None:
    with pytest.raises(Forbidden):
        check_in(org.manager.id, clock.now())
    visit = check_in(org.practitioner.id, clock.now(), companion_id=org.colleague.id)
    sam = account_service.get_user(org.colleague.id)
    with pytest.raises(Forbidden):
        visit_service.check_out(sam, visit.id, now=clock.now())
    visit_service.check_out(account_service.get_user(org.practitioner.id), visit.id, now=clock.now())
    with pytest.raises(Conflict):
        visit_service.check_out(account_service.get_user(org.practitioner.id), visit.id, now=clock.now())


def test_visits_and_alarms_can_be_locked_on_every_database(ctx, clock, org) -> None:
    # PostgreSQL refuses FOR UPDATE on a query with an eager LEFT OUTER JOIN; the sweep's claims
    # lock visits and alarms, so no relationship on them may be joined eagerly.
    visit = check_in(org.practitioner.id, clock.now())
    from safetycheck.escalation import alarms as alarm_service

    alarm_service.raise_alarm(
        kind=AlarmKind.PANIC, practitioner=account_service.get_user(org.practitioner.id), now=clock.now()
    )
    db.session.commit()

    claimed = db.session.scalars(sa.select(Visit).with_for_update(skip_locked=True)).all()
    assert [v.id for v in claimed] == [visit.id]
    assert claimed[0].practitioner.name == "Priya Practitioner"
    assert len(db.session.scalars(sa.select(Alarm).with_for_update(skip_locked=True)).all()) == 1
    assert db.session.get(Visit, visit.id, with_for_update=True, populate_existing=True) is not None
    from safetycheck.accounts.models import User

    assert db.session.get(
        User, org.practitioner.id, with_for_update=True, populate_existing=True
    ).team.id == (org.team.id)
