"""Raising, acknowledging and resolving alarms. Services flush; the caller commits.

The ladder itself advances in `ladder.py`, driven by the sweep. Here is what people do to an
alarm: raise it (panic, duress, a serious incident), take charge of it (ACK), resolve it, and
what a worker's own late check-out or extension does to it (stand down, and tell those texted).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from safetycheck import wording as texts
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.db import insert_unless_taken
from safetycheck.errors import Conflict, NotFound, ValidationFailed
from safetycheck.escalation import bundling, events, in_transaction, outbox
from safetycheck.escalation.enums import (
    REACHED_STATUSES,
    AlarmKind,
    AlarmOutcome,
    AlarmStatus,
    MessagePurpose,
)
from safetycheck.escalation.models import Alarm, AlarmRecipient, OutboxMessage
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.visits import service as visit_service
from safetycheck.visits.models import Visit

# Letters and digits that cannot be mistaken for each other when read off a small screen.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 4
ACTIVE_STATUSES = (AlarmStatus.OPEN, AlarmStatus.ACKNOWLEDGED)


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


class AlarmDetail:
    """An alarm with what happened to it, for the board and the register."""

    def __init__(self, alarm: Alarm, timeline: list[Any], texts: list[OutboxMessage]) -> None:
        self.alarm = alarm
        self.timeline = timeline
        self.texts = texts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.alarm, name)


@dataclass(frozen=True)
class Acknowledgement:
    alarm: Alarm
    first: bool  # False: someone else had already taken charge (alarm.acknowledged_by)


def visible_alarms(user: User) -> sa.Select[Alarm]:
    """Alarms in reach: a manager's team, everything for leads and admins; a practitioner their own
    non-duress alarms (a duress alarm is never shown to the person it concerns)."""
    query = sa.select(Alarm)
    if user.role == Role.PRACTITIONER:
        return query.where(Alarm.practitioner_id == user.id, Alarm.kind != AlarmKind.DURESS)
    if user.role == Role.MANAGER:
        return query.where(
            sa.or_(
                Alarm.team_id == user.team_id,
                Alarm.id.in_(sa.select(AlarmRecipient.alarm_id).where(AlarmRecipient.user_id == user.id)),
            )
        )
    return query


def get_alarm(user: User, alarm_id: int) -> Alarm:
    alarm = db.session.scalar(visible_alarms(user).where(Alarm.id == alarm_id))
    if alarm is None:
        raise NotFound("Alarm not found.")
    return alarm


def alarms_for_visit(user: User, visit_id: int) -> list[Alarm]:
    return list(db.session.scalars(visible_alarms(user).where(Alarm.visit_id == visit_id).order_by(Alarm.id)))


def timeline_of(alarm: Alarm) -> list[Any]:
    return timeline.entries_for("alarm", alarm.id, include_restricted=True)


def texts_of(alarm: Alarm) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(bundling.texts_for(alarm.id)).order_by(OutboxMessage.id)
        )
    )


def find_by_code(code: str) -> Alarm | None:
    return db.session.scalar(sa.select(Alarm).where(Alarm.code == code.strip().upper()))


def raise_alarm(
    *,
    kind: AlarmKind,
    practitioner: User,
    now: datetime,
    visit_id: int | None = None,
    incident_id: int | None = None,
    message: str | None = None,
    location: Location | None = None,
    dedupe_key: str | None = None,
    origin_at: datetime | None = None,
    actor_id: int | None = None,
) -> Alarm:
    """Open an alarm whose first ladder step the next sweep takes (its deadline is a column).

    With a dedupe key, raising twice returns the first alarm: one duress alarm per visit, one
    overdue alarm per due time, even when two processes race.
    """
    origin = origin_at or now
    for _ in range(20):
        alarm = _insert(
            kind=kind,
            status=AlarmStatus.OPEN,
            code=_new_code(),
            dedupe_key=dedupe_key,
            practitioner_id=practitioner.id,
            team_id=practitioner.team_id,
            visit_id=visit_id,
            incident_id=incident_id,
            raised_at=now,
            origin_at=origin,
            message=message,
            lat=location.lat if location else None,
            lon=location.lon if location else None,
            accuracy_m=location.accuracy_m if location else None,
            executed_steps=0,
            # Due now: the sweep works out from the policy when the first step really falls.
            next_step_at=origin,
        )
        if alarm is None:  # a unique key was taken: the dedupe key (raised already) or the code
            if dedupe_key and (existing := _by_dedupe_key(dedupe_key)):
                return existing
            continue  # the random code collided; draw again
        in_transaction.note_raised(alarm.id)
        timeline.record(
            "alarm",
            alarm.id,
            "raised",
            at=now,
            actor_id=actor_id,
            restricted=kind == AlarmKind.DURESS,
            kind=str(kind),
            visit_id=visit_id,
            code=alarm.code,
        )
        if visit_id is not None:
            timeline.record(
                "visit",
                visit_id,
                "alarm_raised",
                at=now,
                actor_id=actor_id,
                restricted=kind == AlarmKind.DURESS,
                alarm_id=alarm.id,
                kind=str(kind),
            )
        return alarm
    raise RuntimeError("could not draw a free alarm code")


def may_acknowledge(user: User, alarm: Alarm) -> bool:
    """Anyone texted for the alarm, and managers and admins in reach (the contract)."""
    if user.id == alarm.practitioner_id:
        return False
    if was_texted(alarm.id, user.id):
        return True
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.MANAGER and user.team_id == alarm.team_id


def acknowledge(alarm: Alarm, *, actor: User, now: datetime, via: str) -> Acknowledgement:
    """Take charge: the first acknowledgement wins, stops the ladder and tells the others texted."""
    alarm = _lock(alarm.id)
    if not may_acknowledge(actor, alarm):
        raise NotFound("Alarm not found.")
    if alarm.status != AlarmStatus.OPEN:
        return Acknowledgement(alarm=alarm, first=False)
    alarm.status = AlarmStatus.ACKNOWLEDGED
    alarm.acknowledged_by = actor.id
    alarm.acknowledged_at = now
    alarm.acknowledged_via = via
    alarm.next_step_at = None
    outbox.cancel_pending_for_alarm(alarm.id)
    timeline.record(
        "alarm", alarm.id, "acknowledged", at=now, actor_id=actor.id, restricted=_restricted(alarm), via=via
    )
    body = texts.taken_charge(
        code=alarm.code, practitioner_name=alarm.practitioner.name, by_name=actor.name, via=via
    )
    _tell_recipients(
        alarm, body, MessagePurpose.TAKEN_CHARGE, now=now, exclude={actor.id, alarm.practitioner_id}
    )
    if alarm.kind == AlarmKind.INCIDENT:
        # Taking charge of the chasing alarm (ACK by text) is acknowledging the incident itself.
        events.incident_alarm_acknowledged.announce(
            events.IncidentAlarmAcknowledged(alarm_id=alarm.id, now=now)
        )
    db.session.flush()
    return Acknowledgement(alarm=alarm, first=True)


def resolve(alarm: Alarm, *, actor: User, now: datetime, outcome: AlarmOutcome, notes: str | None) -> Alarm:
    """Close an alarm with its outcome; everyone texted hears that it is over."""
    alarm = _lock(alarm.id)
    if not may_acknowledge(actor, alarm):
        raise NotFound("Alarm not found.")
    if alarm.status == AlarmStatus.RESOLVED:
        raise Conflict("This alarm is already resolved.", {"status": [str(alarm.status)]})
    if outcome not in (
        AlarmOutcome.SAFE,
        AlarmOutcome.FALSE_ALARM,
        AlarmOutcome.INCIDENT,
        AlarmOutcome.EMERGENCY_SERVICES,
    ):
        raise ValidationFailed(
            "Invalid outcome.", {"outcome": [f"Not an outcome people can choose: {outcome}."]}
        )
    if alarm.acknowledged_by is None:  # resolving is taking charge too
        alarm.acknowledged_by = actor.id
        alarm.acknowledged_at = now
        alarm.acknowledged_via = "api"
    _close(alarm, now=now, outcome=outcome, actor_id=actor.id, notes=notes)
    if alarm.kind == AlarmKind.OVERDUE and alarm.visit_id is not None:
        visit_service.close_by_manager(alarm.visit_id, actor_id=actor.id, now=now)
    reason = f"resolved by {actor.name} ({outcome.value.replace('_', ' ')})."
    body = texts.stand_down(code=alarm.code, practitioner_name=alarm.practitioner.name, reason=reason)
    _tell_recipients(
        alarm, body, MessagePurpose.STAND_DOWN, now=now, exclude={actor.id, alarm.practitioner_id}
    )
    if outcome == AlarmOutcome.INCIDENT:
        _open_draft_incident(alarm, actor_id=actor.id, now=now)
    db.session.flush()
    return alarm


def stand_down_for_visit(
    visit: Visit, *, now: datetime, outcome: AlarmOutcome, actor_id: int, reason: str
) -> None:
    """The worker checked out late or extended: end the overdue alarm and tell everyone texted."""
    for alarm in _active_alarms_for_visit(visit.id, AlarmKind.OVERDUE):
        _close(alarm, now=now, outcome=outcome, actor_id=actor_id, notes=None)
        body = texts.stand_down(code=alarm.code, practitioner_name=alarm.practitioner.name, reason=reason)
        _tell_recipients(alarm, body, MessagePurpose.STAND_DOWN, now=now, exclude={alarm.practitioner_id})


def supersede_with_duress(visit: Visit, *, now: datetime, actor_id: int) -> None:
    """A late check-out with the duress PIN: the overdue alarm ends without any 'safe' text, because
    the duress alarm that replaces it tells the same people the worker may be under threat."""
    for alarm in _active_alarms_for_visit(visit.id, AlarmKind.OVERDUE):
        _close(
            alarm, now=now, outcome=AlarmOutcome.SUPERSEDED, actor_id=actor_id, notes=None, restricted=True
        )


def acknowledge_for_incident(incident_id: int, *, actor: User, now: datetime) -> None:
    """A manager acknowledged the incident itself: its chasing alarm stops."""
    for alarm in db.session.scalars(
        sa.select(Alarm)
        .where(Alarm.incident_id == incident_id, Alarm.status == AlarmStatus.OPEN)
        .with_for_update(of=Alarm)
    ):
        alarm.status = AlarmStatus.ACKNOWLEDGED
        alarm.acknowledged_by = actor.id
        alarm.acknowledged_at = now
        alarm.acknowledged_via = "incident"
        alarm.next_step_at = None
        outbox.cancel_pending_for_alarm(alarm.id)
        timeline.record("alarm", alarm.id, "acknowledged", at=now, actor_id=actor.id, via="incident")
    db.session.flush()


def was_texted(alarm_id: int, user_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(AlarmRecipient.id).where(
                AlarmRecipient.alarm_id == alarm_id, AlarmRecipient.user_id == user_id
            )
        )
        is not None
    )


def note_recipient(alarm_id: int, user_id: int, *, now: datetime) -> None:
    """Remember that this person was texted (the alarm row is locked by the caller)."""
    if in_transaction.raised_here(alarm_id):
        if in_transaction.first_recipient(alarm_id, user_id):
            db.session.add(AlarmRecipient(alarm_id=alarm_id, user_id=user_id, first_notified_at=now))
        return
    if not was_texted(alarm_id, user_id):
        db.session.add(AlarmRecipient(alarm_id=alarm_id, user_id=user_id, first_notified_at=now))


def _close(
    alarm: Alarm,
    *,
    now: datetime,
    outcome: AlarmOutcome,
    actor_id: int | None,
    notes: str | None,
    restricted: bool | None = None,
) -> None:
    alarm.status = AlarmStatus.RESOLVED
    alarm.resolved_at = now
    alarm.resolved_by = actor_id
    alarm.outcome = outcome.value
    alarm.resolution_notes = notes
    alarm.next_step_at = None
    outbox.cancel_pending_for_alarm(alarm.id)
    timeline.record(
        "alarm",
        alarm.id,
        "resolved",
        at=now,
        actor_id=actor_id,
        restricted=_restricted(alarm) if restricted is None else restricted,
        outcome=outcome.value,
    )


def _tell_recipients(
    alarm: Alarm, body: str, purpose: MessagePurpose, *, now: datetime, exclude: set[int]
) -> None:
    # Only people whose escalation text went (or may have gone): a notice about an alert they
    # never received would only confuse them.
    reached = (
        sa.select(OutboxMessage.recipient_id)
        .where(
            bundling.texts_for(alarm.id),  # alone or bundled with other alarms
            OutboxMessage.purpose == MessagePurpose.ESCALATION,
            sa.or_(
                OutboxMessage.status.in_(REACHED_STATUSES),
                OutboxMessage.outcome_unknown_since.is_not(None),
            ),
        )
        .scalar_subquery()
    )
    recipients = db.session.scalars(sa.select(User).where(User.id.in_(reached)).order_by(User.id))
    for user in recipients:
        if user.id in exclude:
            continue
        outbox.enqueue(
            dedupe_key=f"alarm:{alarm.id}:{purpose.value}:user:{user.id}",
            purpose=purpose,
            recipient=user,
            body=body,
            now=now,
            alarm_id=alarm.id,
        )


def _active_alarms_for_visit(visit_id: int, kind: AlarmKind) -> list[Alarm]:
    return list(
        db.session.scalars(
            sa.select(Alarm)
            .where(Alarm.visit_id == visit_id, Alarm.kind == kind, Alarm.status.in_(ACTIVE_STATUSES))
            .order_by(Alarm.id)
            .with_for_update(of=Alarm)
        )
    )


def _open_draft_incident(alarm: Alarm, *, actor_id: int, now: datetime) -> None:
    """Open the draft report and link it both ways, so the alarm leads to its incident."""
    alarm.incident_id = events.alarm_resolved_as_incident.ask(
        events.AlarmResolvedAsIncident(alarm=alarm, actor_id=actor_id, now=now)
    )


def _lock(alarm_id: int) -> Alarm:
    alarm = db.session.get(Alarm, alarm_id, with_for_update={"of": Alarm}, populate_existing=True)
    if alarm is None:
        raise NotFound("Alarm not found.")
    return alarm


def _restricted(alarm: Alarm) -> bool:
    return alarm.kind == AlarmKind.DURESS


def _insert(**values: Any) -> Alarm | None:
    """Insert an alarm, or nothing when one of its unique keys is taken (None).

    The alarm comes back loaded, and a taken key leaves the transaction usable
    (`db.insert_unless_taken`). It was a look-up, a savepoint around the ORM's insert and its
    flush: a burst of 1,000 overdue alarms spent a third of its deciding there. Pending rows
    (timeline entries, texts) are flushed later, many to a statement.
    """
    alarm: Alarm | None = insert_unless_taken(db.session, Alarm, values)
    return alarm


def _by_dedupe_key(key: str) -> Alarm | None:
    return db.session.scalar(sa.select(Alarm).where(Alarm.dedupe_key == key))


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
