"""Panic: the worker's own red alert, from the app or by texting HELP or SOS."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Forbidden, ValidationFailed
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmKind, AlarmStatus
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.visits import service as visit_service

# Presses within this window join the open panic alarm instead of opening another: a worker in
# trouble presses again and again, and managers need one alarm to take charge of, not five.
REPEAT_WINDOW = timedelta(minutes=15)


def raise_panic(
    practitioner: User,
    *,
    now: datetime,
    visit_id: int | None = None,
    message: str | None = None,
    location: alarm_service.Location | None = None,
) -> Alarm:
    """Raise (or re-press) a panic alarm, tied to the given or the current visit."""
    if practitioner.role != Role.PRACTITIONER:
        raise Forbidden("Only practitioners raise panic alarms.")
    visit = None
    if visit_id is not None:
        visit = visit_service.get_visit(practitioner, visit_id)
        if visit.practitioner_id != practitioner.id:
            raise ValidationFailed("Not your visit.", {"visit_id": ["Must be one of your own visits."]})
    else:
        visit = visit_service.current_visit(practitioner.id)
    if location is None and visit is not None and visit.last_lat is not None and visit.last_lon is not None:
        location = alarm_service.Location(visit.last_lat, visit.last_lon, visit.last_accuracy_m)
    if location is not None and visit is not None and visit.is_current:
        visit_service.record_location(practitioner, visit.id, location=_visit_location(location), now=now)
    repeat = db.session.scalar(
        sa.select(Alarm)
        .where(
            Alarm.practitioner_id == practitioner.id,
            Alarm.kind == AlarmKind.PANIC,
            Alarm.status == AlarmStatus.OPEN,
            Alarm.raised_at >= now - REPEAT_WINDOW,
        )
        .order_by(Alarm.id.desc())
        .limit(1)
        .with_for_update(of=Alarm)
    )
    if repeat is not None:
        if location is not None:
            repeat.lat, repeat.lon, repeat.accuracy_m = location.lat, location.lon, location.accuracy_m
        if message:
            repeat.message = message[:500]
        timeline.record("alarm", repeat.id, "pressed_again", at=now, actor_id=practitioner.id)
        db.session.flush()
        return repeat
    return alarm_service.raise_alarm(
        kind=AlarmKind.PANIC,
        practitioner=practitioner,
        now=now,
        visit_id=visit.id if visit else None,
        message=message,
        location=location,
        actor_id=practitioner.id,
    )


def _visit_location(location: alarm_service.Location) -> visit_service.Location:
    return visit_service.Location(lat=location.lat, lon=location.lon, accuracy_m=location.accuracy_m)
