"""Retention, run by the sweep: a visit's whereabouts and details are not kept for ever.

- Locations (the visit's last position, and the one copied onto its alarms) are purged
  `VISIT_LOCATION_RETENTION_DAYS` after the visit ended: staff fear being tracked, and a
  position is only needed while someone may be looking for them.
- A closed visit's address and notes are minimised `VISIT_DETAIL_RETENTION_DAYS` after it ended,
  unless an incident reported from it is younger than `INCIDENT_RETENTION` (three years, as
  RIDDOR wants its records kept): the incident's record may rest on them. Incidents themselves
  are never touched here.

Rows are claimed in batches (`FOR UPDATE SKIP LOCKED`), so several sweepers can run the task.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from safetycheck.engine.parts import sweep_part
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.incidents.models import Incident
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit

INCIDENT_RETENTION = timedelta(days=3 * 366)
MINIMISED_ADDRESS = "(address removed)"
BATCH = 500


@sweep_part("incidents.retention", order=9)  # after the day's reminders and recounts
def apply_retention(session: Any, now: datetime) -> int:
    """Purge old locations, minimise old closed visits; returns the rows changed."""
    config = current_app.config
    located = _purge_locations(now - timedelta(days=config["VISIT_LOCATION_RETENTION_DAYS"]))
    minimised = _minimise_details(now - timedelta(days=config["VISIT_DETAIL_RETENTION_DAYS"]), now)
    db.session.flush()
    return located + minimised


def _ended_before(cutoff: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Visit.status == VisitStatus.COMPLETED, Visit.checked_out_at < cutoff)


def _purge_locations(cutoff: datetime) -> int:
    visits = db.session.scalars(
        sa.select(Visit)
        .where(_ended_before(cutoff), sa.or_(Visit.last_lat.is_not(None), Visit.last_lon.is_not(None)))
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Visit)
    ).all()
    for visit in visits:
        visit.last_lat = visit.last_lon = visit.last_accuracy_m = visit.last_located_at = None
    ended_visit = sa.select(Visit.id).where(Visit.id == Alarm.visit_id, _ended_before(cutoff)).exists()
    alarms = db.session.scalars(
        sa.select(Alarm)
        .where(sa.or_(Alarm.lat.is_not(None), Alarm.lon.is_not(None)), ended_visit)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Alarm)
    ).all()
    for alarm in alarms:
        alarm.lat = alarm.lon = alarm.accuracy_m = None
    return len(visits) + len(alarms)


def _minimise_details(cutoff: datetime, now: datetime) -> int:
    recent_incident = (
        sa.select(Incident.id)
        .where(Incident.visit_id == Visit.id, Incident.occurred_at >= now - INCIDENT_RETENTION)
        .exists()
    )
    visits = db.session.scalars(
        sa.select(Visit)
        .where(
            _ended_before(cutoff),
            sa.or_(Visit.address != MINIMISED_ADDRESS, Visit.notes.is_not(None)),
            ~recent_incident,
        )
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Visit)
    ).all()
    for visit in visits:
        visit.address = MINIMISED_ADDRESS
        visit.notes = None
    return len(visits)
