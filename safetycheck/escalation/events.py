"""What escalation announces, for the incident procedure (above it) to act on. See `hooks.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from safetycheck.escalation.models import Alarm
from safetycheck.hooks import Event, Hook


@dataclass(frozen=True)
class IncidentAlarmAcknowledged:
    """Someone took charge of an incident's chasing alarm (by text or on the board)."""

    alarm_id: int
    now: datetime


@dataclass(frozen=True)
class AlarmResolvedAsIncident:
    """An alarm was resolved with the outcome "incident": a draft report is due."""

    alarm: Alarm
    actor_id: int
    now: datetime


# Taking charge of the chasing alarm is acknowledging the incident itself.
incident_alarm_acknowledged: Event[IncidentAlarmAcknowledged] = Event(
    "escalation.incident_alarm_acknowledged", required=True
)
# Opens the draft report and answers its id, so that the alarm leads to its incident.
alarm_resolved_as_incident: Hook[AlarmResolvedAsIncident, int] = Hook("escalation.alarm_resolved_as_incident")
# Where a chased incident happened, as reported (it may be away from any visit), for the texts.
incident_address: Hook[int, str | None] = Hook("escalation.incident_address")
