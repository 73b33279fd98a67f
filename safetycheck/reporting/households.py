"""A household as staff read it: the markers in force, how often it was visited, its incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households import matching
from safetycheck.households.markers import MarkerDetail
from safetycheck.households.models import Household, VisitHousehold
from safetycheck.incidents import reach
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident


class HouseholdOverview:
    """A household with its figures; reads through to the household for its own fields."""

    def __init__(
        self, household: Household, *, markers: list[MarkerDetail], visits: int, incidents: int
    ) -> None:
        self.household = household
        self.markers = markers
        self.visits = visits
        self.incidents = incidents

    def __getattr__(self, name: str) -> Any:
        return getattr(self.household, name)


def household_overview(user: User, household_id: int, *, now: datetime) -> HouseholdOverview:
    """Markers in force now, every visit made there, and the reported incidents in the user's reach."""
    household = matching.get_household(household_id)
    visits = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(VisitHousehold)
        .where(VisitHousehold.household_id == household.id)
    )
    incidents = db.session.scalar(
        sa.select(sa.func.count()).where(
            reach.reach_clause(user),
            Incident.household_id == household.id,
            Incident.status != IncidentStatus.DRAFT,
        )
    )
    return HouseholdOverview(
        household,
        markers=[
            marker_service.marker_detail(m) for m in marker_service.active_markers(household.id, now=now)
        ],
        visits=visits or 0,
        incidents=incidents or 0,
    )
