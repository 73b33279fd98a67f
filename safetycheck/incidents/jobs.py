"""Periodic work of the incident procedure, run by the escalation sweep in its own transaction.

Each task finds what is due with an indexed `next_reminder_at` (or review/reassess) column, claims
those rows with `FOR UPDATE SKIP LOCKED` so that several sweepers share the work, and writes its
texts with dedupe keys (one per step, target and round), so a repeat can never text twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.models import User
from safetycheck.engine.parts import sweep_part
from safetycheck.escalation.enums import AlarmKind, AlarmStatus
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Marker
from safetycheck.incidents import notify, procedure, riddor_track, support, workflow
from safetycheck.incidents.enums import ActionStatus, IncidentStatus
from safetycheck.incidents.models import Incident, IncidentAction, IncidentRiddor, IncidentSupport

T = TypeVar("T")

BATCH = 100
REMIND_EVERY = workflow.REMIND_EVERY


def _round(due_at: datetime, now: datetime) -> int:
    return int((now - due_at) / REMIND_EVERY)


def _next_round(due_at: datetime, now: datetime) -> datetime:
    return due_at + (_round(due_at, now) + 1) * REMIND_EVERY


@sweep_part("incidents.remind_overdue_steps", order=1)
def remind_overdue_steps(session: Any, now: datetime) -> int:
    """Remind owners of overdue procedure steps, actions and support steps; returns texts queued."""
    done = 0
    for incident in _claim_due(Incident, Incident.next_reminder_at, Incident.id, now):
        done += _remind_step(incident, now)
    for action in _claim_due(IncidentAction, IncidentAction.next_reminder_at, IncidentAction.id, now):
        done += _remind_action(action, now)
    for row in _claim_due(
        IncidentSupport, IncidentSupport.next_reminder_at, IncidentSupport.incident_id, now
    ):
        done += _remind_support(row, now)
    db.session.flush()
    return done


def _claim_due(model: type[T], due: Any, tie: Any, now: datetime) -> Sequence[T]:
    """Rows whose reminder is due, claimed so that several sweepers never remind twice."""
    return db.session.scalars(
        sa.select(model)
        .where(due <= now)
        .order_by(due, tie)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=model)
    ).all()


def _remind_step(incident: Incident, now: datetime) -> int:
    if incident.status not in workflow.OPEN_STATUSES | {IncidentStatus.DRAFT} or incident.step_due_at is None:
        incident.next_reminder_at = None
        return 0
    if incident.status == IncidentStatus.REPORTED:
        alarm = db.session.scalar(
            sa.select(Alarm).where(Alarm.incident_id == incident.id, Alarm.kind == AlarmKind.INCIDENT)
        )
        if alarm is not None and alarm.acknowledged_by is not None:
            procedure.acknowledge_from_alarm(alarm.id, now=now)  # someone replied ACK to its text
            return 1
        if alarm is not None and alarm.status == AlarmStatus.OPEN:
            incident.next_reminder_at = now + workflow.ALARM_SYNC_EVERY  # the alarm's ladder does the chasing
            return 0
    if incident.step_due_at > now:
        incident.next_reminder_at = incident.step_due_at
        return 0
    sent = notify.step_overdue(
        incident, workflow.owners(incident), now=now, round_=_round(incident.step_due_at, now)
    )
    incident.next_reminder_at = _next_round(incident.step_due_at, now)
    return sent


def _remind_action(action: IncidentAction, now: datetime) -> int:
    if action.status != ActionStatus.OPEN:
        action.next_reminder_at = None
        return 0
    owner = db.session.get(User, action.owner_id)
    sent = notify.action_overdue(action, owner, now=now, round_=_round(action.due_at, now)) if owner else 0
    action.next_reminder_at = _next_round(action.due_at, now)
    return sent


def _remind_support(row: IncidentSupport, now: datetime) -> int:
    incident = db.session.get(Incident, row.incident_id)
    assert incident is not None
    managers = account_service.team_managers(incident.team_id) if incident.team_id is not None else []
    sent = 0
    upcoming = []
    for item, due_at in support.pending(row):
        if due_at > now:
            upcoming.append(due_at)
            continue
        sent += notify.support_overdue(incident, item, due_at, managers, now=now, round_=_round(due_at, now))
        upcoming.append(_next_round(due_at, now))
    row.next_reminder_at = min(upcoming) if upcoming else None
    return sent


@sweep_part("incidents.expire_markers", order=2)
def expire_markers(session: Any, now: datetime) -> int:
    """Markers past their review date stop applying: a marker lives only as long as it is reviewed."""
    due = db.session.scalars(
        sa.select(Marker)
        .where(Marker.status == MarkerStatus.ACTIVE, Marker.review_at <= now)
        .order_by(Marker.review_at, Marker.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Marker)
    ).all()
    for marker in due:
        marker_service.expire(marker, now=now)
    db.session.flush()
    return len(due)


@sweep_part("incidents.remind_marker_reviews", order=3)
def remind_marker_reviews(session: Any, now: datetime) -> int:
    """Tell a marker's owners once when its review date comes within the notice period."""
    due = db.session.scalars(
        marker_service.due_for_review(sa.select(Marker), now=now)
        .where(Marker.review_notified_at.is_(None), Marker.review_at > now)
        .order_by(Marker.review_at, Marker.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Marker)
    ).all()
    sent = 0
    for marker in due:
        owners = account_service.team_managers(marker.team_id) if marker.team_id is not None else []
        proposer = db.session.get(User, marker.proposed_by)
        if proposer is not None and proposer.active and proposer.id not in {o.id for o in owners}:
            owners.append(proposer)
        sent += notify.marker_review_due(marker, owners, now=now)
        marker.review_notified_at = now
    db.session.flush()
    return sent


@sweep_part("incidents.reassess_riddor", order=4)
def reassess_riddor(session: Any, now: datetime) -> int:
    """A worker still off crosses the over-7-day line at midnight: the case becomes reportable."""
    rows = db.session.scalars(
        sa.select(IncidentRiddor)
        .where(IncidentRiddor.reassess_at <= now)
        .order_by(IncidentRiddor.reassess_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=IncidentRiddor)
    ).all()
    changed = 0
    for row in rows:
        incident = db.session.get(Incident, row.incident_id)
        assert incident is not None
        changed += riddor_track.reassess(incident, now=now)
    db.session.flush()
    return changed
