"""A household with an approved marker, made through the domain services (for the /app tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from safetycheck.extensions import db
from safetycheck.households import markers
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents import marker_proposals
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory

MARKED = "12 High Street, Leeds LS1 4AP"
REASON = "Father threatened staff with a knife on 2 March 2026."


def mark_household(org: Any, *, now: datetime, controls: list[MarkerControl], address: str = MARKED) -> int:
    """Report an incident at the address and put an approved marker on its household (call in an
    app context; commits)."""
    incident = incident_service.report(
        org.colleague,
        occurred_at=now - timedelta(hours=1),
        category=IncidentCategory.THREAT_WITH_WEAPON,
        description="Threatened with a knife at the door.",
        near_miss=False,
        harmed=False,
        address=address,
        now=now,
    )
    marker = marker_proposals.propose(org.manager, incident, reason=REASON, controls=controls, now=now)
    markers.approve(org.on_call, marker, now=now)
    db.session.commit()
    return marker.id
