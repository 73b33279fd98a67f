"""Incidents and markers written on the live server through the domain services, as a
practitioner's report and a manager's proposal would write them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from safetycheck.accounts.models import User
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents import marker_proposals, reach
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory

ADDRESS = "14 Mill Lane, Leeds LS6 2AB"


def report(live_server: Any, reporter: User, **overrides: Any) -> int:
    """A report by `reporter` ten minutes ago at ADDRESS; its id."""
    moment = live_server.clock.now()
    fields: dict[str, Any] = {
        "occurred_at": moment - timedelta(minutes=10),
        "category": IncidentCategory.PHYSICAL_ASSAULT,
        "description": "Pushed against the door frame by the mother's partner while leaving.",
        "near_miss": False,
        "harmed": True,
        "address": ADDRESS,
        "injury": "Bruised shoulder",
        "left_premises": True,
        "police_called": True,
        **overrides,
    }
    with live_server.session() as s:
        incident = incident_service.report(s.get(User, reporter.id), now=moment, **fields)
        s.commit()
        return incident.id


def propose_marker(live_server: Any, proposer: User, incident_id: int, reason: str) -> int:
    """A joint-visit marker proposed by `proposer` from the incident; its id."""
    with live_server.session() as s:
        actor = s.get(User, proposer.id)
        marker = marker_proposals.propose(
            actor,
            reach.get_incident(actor, incident_id),
            reason=reason,
            controls=[MarkerControl.JOINT_VISIT],
            now=live_server.clock.now(),
        )
        s.commit()
        return marker.id
