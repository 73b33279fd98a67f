"""The people's steps of the post-incident procedure: acknowledge, triage, ask, feed back, reopen.

The plain moves between investigation, actions and review are `workflow.transition`. Services
flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.households.enums import MarkerControl
from safetycheck.households.models import Marker
from safetycheck.incidents import marker_proposals, notify, reach, riddor_track, workflow
from safetycheck.incidents.enums import PHYSICAL_CATEGORIES, Harm, IncidentStatus, InvestigationLevel
from safetycheck.incidents.models import Incident
from safetycheck.incidents.risk import risk_band, risk_score
from safetycheck.timeline import service as timeline

S = IncidentStatus


def acknowledge(actor: User, incident: Incident, *, now: datetime, note: str | None = None) -> Incident:
    """A manager has contacted the worker: the step the serious-incident alarm chases."""
    reach.require_manager(actor, incident, what="acknowledge an incident")
    if incident.status != S.REPORTED:
        raise InvalidTransition(
            f"Only a reported incident can be acknowledged; this one is {incident.status}.",
            {"status": [str(incident.status)]},
        )
    _acknowledge(incident, actor, now=now, note=note, via="api")
    alarm_service.acknowledge_for_incident(incident.id, actor=actor, now=now)
    return incident


def acknowledge_from_alarm(alarm_id: int, *, now: datetime) -> Incident | None:
    """The chasing alarm was taken charge of (ACK by text): the incident is acknowledged by that person."""
    alarm = db.session.get(Alarm, alarm_id)
    if alarm is None or alarm.kind != AlarmKind.INCIDENT or alarm.incident_id is None:
        return None
    if alarm.acknowledged_by is None:
        return None
    incident = db.session.get(Incident, alarm.incident_id, with_for_update={"of": Incident})
    if incident is None or incident.status != S.REPORTED:
        return incident
    actor = account_service.get_user(alarm.acknowledged_by)
    _acknowledge(incident, actor, now=now, note=None, via=alarm.acknowledged_via or "alarm")
    return incident


def _acknowledge(incident: Incident, actor: User, *, now: datetime, note: str | None, via: str) -> None:
    incident.acknowledged_at, incident.acknowledged_by = now, actor.id
    workflow.set_status(incident, S.ACKNOWLEDGED, now=now, actor_id=actor.id, note=note, via=via)


def triage(
    actor: User,
    incident: Incident,
    *,
    harm: Harm,
    consequence: int,
    likelihood: int,
    investigation_level: InvestigationLevel,
    now: datetime,
    note: str | None = None,
    riddor: Mapping[str, Any] | None = None,
    marker: Mapping[str, Any] | None = None,
) -> Marker | None:
    """Rate the incident, screen it for RIDDOR and, if needed, propose a household marker."""
    reach.require_manager(actor, incident, what="triage an incident")
    if incident.status != S.ACKNOWLEDGED:
        raise InvalidTransition(
            f"Only an acknowledged incident can be triaged; this one is {incident.status}.",
            {"status": [str(incident.status)]},
        )
    try:
        score = risk_score(consequence, likelihood)
    except ValueError as exc:
        raise ValidationFailed(
            "Invalid risk rating.", {"consequence": [str(exc)], "likelihood": [str(exc)]}
        ) from exc
    incident.harm, incident.consequence, incident.likelihood = harm, consequence, likelihood
    incident.risk_score, incident.investigation_level = score, investigation_level
    incident.triaged_at, incident.triaged_by = now, actor.id
    if riddor is not None:
        riddor_track.screen(incident, now=now, actor_id=actor.id, **riddor)
    elif incident.riddor is None:
        riddor_track.screen(
            incident, now=now, actor_id=actor.id, physical=incident.category in PHYSICAL_CATEGORIES
        )
    workflow.set_status(
        incident,
        S.TRIAGED,
        now=now,
        actor_id=actor.id,
        note=note,
        harm=str(harm),
        risk_score=score,
        risk_band=str(risk_band(score)),
        investigation_level=str(investigation_level),
    )
    if marker is None:
        return None
    return marker_proposals.propose(
        actor,
        incident,
        reason=marker["reason"],
        controls=[MarkerControl(c) for c in marker.get("controls", [])],
        review_at=marker.get("review_at"),
        evidence_incident_ids=marker.get("evidence_incident_ids", []),
        now=now,
    )


def screen_riddor(
    actor: User,
    incident: Incident,
    *,
    now: datetime,
    physical: bool,
    specified_injury: bool = False,
    death: bool = False,
    incapacitated: bool | None = None,
    first_day_back: date | None = None,
) -> None:
    reach.require_reviewer(actor, incident, what="screen an incident for RIDDOR")
    _not_draft(incident)
    riddor_track.screen(
        incident,
        now=now,
        actor_id=actor.id,
        physical=physical,
        specified_injury=specified_injury,
        death=death,
        incapacitated=incapacitated,
        first_day_back=first_day_back,
    )


def submit_riddor(
    actor: User,
    incident: Incident,
    *,
    hse_reference: str,
    now: datetime,
    submitted_at: datetime | None = None,
) -> None:
    reach.require_reviewer(actor, incident, what="record a RIDDOR report")
    riddor_track.submit(
        incident, hse_reference=hse_reference, now=now, actor_id=actor.id, submitted_at=submitted_at
    )


def request_information(actor: User, incident: Incident, *, question: str, now: datetime) -> Incident:
    """Ask the reporter something; the incident waits on them and returns where it was."""
    reach.require_reviewer(actor, incident, what="ask the reporter for information")
    if not reach.reporter_may_see(incident):
        raise Conflict(
            "This incident came from a duress alarm: it is never shown to the practitioner, so "
            "they cannot be asked through SafetyCheck. Speak to them in person.",
            {"question": ["The reporter cannot see this incident."]},
        )
    if incident.status not in workflow.QUESTIONABLE:
        raise InvalidTransition(
            f"Cannot ask for information while the incident is {incident.status}.",
            {"status": [str(incident.status)]},
        )
    incident.resume_status = incident.status
    workflow.set_status(incident, S.INFORMATION_REQUIRED, now=now, actor_id=actor.id, question=question)
    notify.question_for_reporter(incident, now=now)
    return incident


def provide_information(actor: User, incident: Incident, *, answer: str, now: datetime) -> Incident:
    if actor.id != incident.reporter_id or not reach.reporter_may_see(incident):
        raise Forbidden("Only the reporter answers questions about their report.")
    if incident.status != S.INFORMATION_REQUIRED or incident.resume_status is None:
        raise InvalidTransition("No question is waiting for an answer.", {"status": [str(incident.status)]})
    back_to, incident.resume_status = incident.resume_status, None
    workflow.set_status(incident, back_to, now=now, actor_id=actor.id, answer=answer)
    return incident


def give_feedback(actor: User, incident: Incident, *, message: str, now: datetime) -> Incident:
    """Tell the reporter what was found and done: required before the incident can close."""
    reach.require_reviewer(actor, incident, what="give feedback")
    _not_draft(incident)
    incident.feedback, incident.feedback_at, incident.feedback_by = message.strip(), now, actor.id
    db.session.flush()
    timeline.record(
        "incident", incident.id, "feedback_given", at=now, actor_id=actor.id, message=incident.feedback
    )
    if reach.reporter_may_see(incident):
        # A text about a duress incident would tell whoever holds the phone that the alarm went.
        notify.feedback_for_reporter(incident, now=now)
    return incident


def close(actor: User, incident: Incident, *, now: datetime, note: str | None = None) -> Incident:
    workflow.transition(actor, incident, to=S.CLOSED, now=now, note=note)
    return incident


def reopen(actor: User, incident: Incident, *, reason: str, now: datetime) -> Incident:
    """Reopen a closed incident; the reason is kept, and closing again needs fresh feedback."""
    if not (reach.is_team_manager(actor, incident) or actor.role in (Role.HS_LEAD, Role.ADMIN)):
        raise Forbidden("Only the team's managers or a health-and-safety lead can reopen an incident.")
    if incident.status != S.CLOSED:
        raise InvalidTransition("Only a closed incident can be reopened.", {"status": [str(incident.status)]})
    if not reason.strip():
        raise ValidationFailed("A reason is required.", {"reason": ["Say why the incident is reopened."]})
    incident.reopened_count += 1
    incident.closed_at = incident.closed_by = None
    # Feedback given before the reopening no longer tells the whole story.
    incident.feedback_at = None
    workflow.set_status(incident, S.UNDER_INVESTIGATION, now=now, actor_id=actor.id, reason=reason.strip())
    return incident


def _not_draft(incident: Incident) -> None:
    if incident.status == S.DRAFT:
        raise Conflict("Confirm the draft report first.", {"status": [str(incident.status)]})
