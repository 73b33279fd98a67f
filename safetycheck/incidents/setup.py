"""Bind the incident procedure to an app: its answers to what escalation announces."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from safetycheck.escalation import events as escalation_events
from safetycheck.extensions import db
from safetycheck.incidents import procedure, service
from safetycheck.incidents.models import Incident


def init_app(app: Flask) -> None:
    escalation_events.incident_alarm_acknowledged.subscribe(_acknowledge_from_alarm)
    escalation_events.alarm_resolved_as_incident.answer_with(_draft_from_alarm)
    escalation_events.incident_address.answer_with(_incident_address)


def _acknowledge_from_alarm(event: escalation_events.IncidentAlarmAcknowledged) -> None:
    procedure.acknowledge_from_alarm(event.alarm_id, now=event.now)


def _draft_from_alarm(event: escalation_events.AlarmResolvedAsIncident) -> int:
    return service.draft_from_alarm(event.alarm.id, actor_id=event.actor_id, now=event.now).id


def _incident_address(incident_id: int) -> str | None:
    address: str | None = db.session.scalar(sa.select(Incident.address).where(Incident.id == incident_id))
    return address
