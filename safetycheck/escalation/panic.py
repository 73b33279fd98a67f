"""Panic: the worker's own red alert, from the app or by texting HELP or SOS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.engine import wake
from safetycheck.errors import Forbidden
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmKind, AlarmStatus
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.visits import service as visit_service


def raise_panic(
    practitioner: User,
    *,
    now: datetime,
    visit_id: int | None = None,
    message: str | None = None,
    location: alarm_service.Location | None = None,
    may_start_ladder: Callable[[int], bool] | None = None,
) -> Alarm:
    """Raise (or re-press) a panic alarm, tied to the practitioner's current visit if they have one.

    A panic is never refused. A `visit_id` from the phone is only a hint: a stale one (a visit
    already checked out, someone else's, one that does not exist) would send managers to the wrong
    address, so the alarm is tied only to the practitioner's own current visit, exactly as for
    HELP by text, and says "no visit in progress" when there is none.

    `may_start_ladder(practitioner_id)` is the abuse limit, asked only when a press would start a
    new alarm and so a fresh ladder of texts: when it says no, the press joins the practitioner's
    latest panic alarm that someone has taken charge of and not yet resolved, so the texts are
    limited while the press is still recorded (and shown); with no such alarm a new one is raised
    all the same.
    """
    if practitioner.role != Role.PRACTITIONER:
        raise Forbidden("Only practitioners raise panic alarms.")
    visit = visit_service.current_visit(practitioner.id)
    ignored = visit_id if visit_id is not None and (visit is None or visit.id != visit_id) else None
    if location is None and visit is not None and visit.last_lat is not None and visit.last_lon is not None:
        location = alarm_service.Location(visit.last_lat, visit.last_lon, visit.last_accuracy_m)
    if location is not None and visit is not None:
        visit_service.record_location(practitioner, visit.id, location=_visit_location(location), now=now)
    repeat = db.session.scalar(
        sa.select(Alarm)
        .where(
            Alarm.practitioner_id == practitioner.id,
            Alarm.kind == AlarmKind.PANIC,
            # While nobody has taken charge, more presses join the open alarm: a worker in trouble
            # presses again and again, and managers need one alarm to take charge of, not five.
            # Once someone has, a new press is a new alarm with a fresh ladder.
            Alarm.status == AlarmStatus.OPEN,
        )
        .order_by(Alarm.id.desc())
        .limit(1)
        .with_for_update(of=Alarm)
    )
    hint = _hint(ignored)
    if repeat is None and may_start_ladder is not None and not may_start_ladder(practitioner.id):
        repeat = db.session.scalar(
            sa.select(Alarm)
            .where(
                Alarm.practitioner_id == practitioner.id,
                Alarm.kind == AlarmKind.PANIC,
                Alarm.status == AlarmStatus.ACKNOWLEDGED,
            )
            .order_by(Alarm.id.desc())
            .limit(1)
            .with_for_update(of=Alarm)
        )
        hint["over_limit"] = True
    if repeat is not None:
        if location is not None:
            repeat.lat, repeat.lon, repeat.accuracy_m = location.lat, location.lon, location.accuracy_m
        if message:
            repeat.message = message[:500]
        timeline.record("alarm", repeat.id, "pressed_again", at=now, actor_id=practitioner.id, **hint)
        db.session.flush()
        return repeat
    alarm = alarm_service.raise_alarm(
        kind=AlarmKind.PANIC,
        practitioner=practitioner,
        now=now,
        visit_id=visit.id if visit else None,
        message=message,
        location=location,
        actor_id=practitioner.id,
    )
    wake.request_wake()  # the sweeping process takes the first step on commit, not at its next tick
    if ignored is not None:
        timeline.record("alarm", alarm.id, "visit_hint_ignored", at=now, **_hint(ignored))
    return alarm


def _hint(ignored: int | None) -> dict[str, Any]:
    """The visit the phone named that is not the practitioner's current one, for the record."""
    return {"ignored_visit_id": ignored} if ignored is not None else {}


def _visit_location(location: alarm_service.Location) -> visit_service.Location:
    return visit_service.Location(lat=location.lat, lon=location.lon, accuracy_m=location.accuracy_m)
