"""Markers made from incidents: who may propose one, and which incidents may serve as evidence.

The marker itself (its review, approval by a second person, enforcement at check-in) is the
households package's; here is what only the incident procedure can judge: that the proposer
is in reach of the incident, that it is reported (not a draft) and that every incident cited
is in the proposer's reach and at the same household. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, Forbidden, ValidationFailed
from safetycheck.extensions import db
from safetycheck.households import markers
from safetycheck.households.enums import MarkerControl
from safetycheck.households.models import Marker
from safetycheck.incidents import reach
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident


def propose(
    actor: User,
    incident: Incident,
    *,
    reason: str,
    controls: Iterable[MarkerControl],
    now: datetime,
    review_at: datetime | None = None,
    evidence_incident_ids: Iterable[int] = (),
) -> Marker:
    """Propose a marker on the incident's household; it does nothing until a second person approves."""
    if not (reach.is_team_manager(actor, incident) or actor.role in (Role.HS_LEAD, Role.ADMIN)):
        raise Forbidden("Only the reporter's team managers or a health-and-safety lead can propose a marker.")
    if incident.status == IncidentStatus.DRAFT:
        raise Conflict("Confirm the incident before proposing a marker.", {"status": [incident.status]})
    if incident.household_id is None:
        raise Conflict(
            "The incident has no address, so there is no household to mark; add the address first.",
            {"address": ["Required to propose a marker."]},
        )
    return markers.propose(
        actor,
        household_id=incident.household_id,
        team_id=incident.team_id,
        incident_id=incident.id,
        reason=reason,
        controls=controls,
        now=now,
        review_at=review_at,
        vet_evidence=lambda: _evidence(actor, incident, evidence_incident_ids),
    )


def renew(
    actor: User,
    marker: Marker,
    *,
    incident_id: int,
    now: datetime,
    review_at: datetime | None = None,
    note: str | None = None,
) -> Marker:
    """Keep an active marker beyond its review date; only a new incident at the household justifies it."""
    return markers.renew(
        actor,
        marker,
        now=now,
        vet_incident=lambda: (
            _evidence_incident(actor, incident_id, marker.household_id, field="incident_id").id
        ),
        review_at=review_at,
        note=note,
    )


def _evidence(actor: User, incident: Incident, extra_ids: Iterable[int]) -> list[int]:
    ids = [incident.id]
    for incident_id in extra_ids:
        if incident_id not in ids:
            ids.append(
                _evidence_incident(
                    actor, incident_id, incident.household_id, field="evidence_incident_ids"
                ).id
            )
    return ids


def _evidence_incident(actor: User, incident_id: int, household_id: int | None, *, field: str) -> Incident:
    found = db.session.scalar(reach.visible_incidents(actor).where(Incident.id == incident_id))
    if found is None or found.status == IncidentStatus.DRAFT:
        raise ValidationFailed(
            "Unknown incident.", {field: [f"No reported incident {incident_id} in your reach."]}
        )
    if found.household_id != household_id:
        raise ValidationFailed(
            "Evidence must be about this household.",
            {field: [f"Incident {incident_id} is at another address."]},
        )
    return found
