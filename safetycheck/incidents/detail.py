"""One incident as a reader sees it: its record, timeline, tracks, actions and markers, gathered once.

The API's detail view and the pages both show this; gathering it here keeps them in step and
the views down to one call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from safetycheck.accounts.models import User
from safetycheck.households import markers as marker_service
from safetycheck.incidents import actions, riddor_track, support, workflow
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.models import Incident, IncidentAction


class IncidentDetail:
    """An incident with what goes with it; reads through to the incident for its own fields."""

    def __init__(
        self,
        incident: Incident,
        *,
        timeline: list[dict[str, Any]],
        riddor: dict[str, Any] | None,
        support: dict[str, Any] | None,
        actions: list[IncidentAction],
        marker_ids: list[int],
        allowed_transitions: list[str],
    ) -> None:
        self.incident = incident
        self.timeline = timeline
        self.riddor = riddor
        self.support = support
        self.actions = actions
        self.marker_ids = marker_ids
        self.allowed_transitions = allowed_transitions

    def __getattr__(self, name: str) -> Any:
        return getattr(self.incident, name)


def incident_detail(user: User, incident: Incident, *, now: datetime) -> IncidentDetail:
    """The incident as `user` may see it (restricted timeline entries only for staff)."""
    return IncidentDetail(
        incident,
        timeline=incident_service.timeline_for(user, incident),
        riddor=riddor_track.view(incident.riddor, now=now) if incident.riddor else None,
        support=support.view(incident.support) if incident.support else None,
        actions=actions.actions_for(incident.id),
        marker_ids=marker_service.markers_for_incident(incident.id),
        allowed_transitions=workflow.allowed_from(incident.status),
    )
