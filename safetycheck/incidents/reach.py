"""Who may see which incidents and who may act on them.

Leads and admins see the whole register, managers their team's incidents, practitioners their own
reports. Anything outside that reach is "not found", so ids cannot be probed.
"""

from __future__ import annotations

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Forbidden, NotFound
from safetycheck.extensions import db
from safetycheck.incidents.models import Incident


def visible_incidents(user: User) -> sa.Select[Incident]:
    query = sa.select(Incident)
    return query.where(reach_clause(user))


def reach_clause(user: User) -> sa.ColumnElement[bool]:
    """The WHERE clause of the user's reach, reusable in counts and exports."""
    if user.role in (Role.HS_LEAD, Role.ADMIN):
        return sa.true()
    if user.role == Role.MANAGER and user.team_id is not None:
        return Incident.team_id == user.team_id
    return Incident.reporter_id == user.id


def get_incident(user: User, incident_id: int, *, for_update: bool = False) -> Incident:
    query = visible_incidents(user).where(Incident.id == incident_id)
    if for_update:
        # Two managers acknowledging at once: the second waits and then sees the new status.
        query = query.with_for_update(of=Incident)
    incident = db.session.scalar(query)
    if incident is None:
        raise NotFound("Incident not found.")
    return incident


def is_team_manager(user: User, incident: Incident) -> bool:
    return user.role == Role.MANAGER and incident.team_id is not None and user.team_id == incident.team_id


def require_manager(user: User, incident: Incident, *, what: str) -> None:
    """The reporter's team managers (and admins) run the procedure's early steps."""
    if not (is_team_manager(user, incident) or user.role == Role.ADMIN):
        raise Forbidden(f"Only the reporter's team managers can {what}.")


def require_lead(user: User, *, what: str) -> None:
    if user.role not in (Role.HS_LEAD, Role.ADMIN):
        raise Forbidden(f"Only a health-and-safety lead can {what}.")


def require_reviewer(user: User, incident: Incident, *, what: str) -> None:
    """Anyone working the case: its team managers, health-and-safety leads, admins."""
    if not (is_team_manager(user, incident) or user.role in (Role.HS_LEAD, Role.ADMIN)):
        raise Forbidden(f"Only managers and health-and-safety leads can {what}.")


def require_reporter_or_manager(user: User, incident: Incident, *, what: str) -> None:
    if not (user.id == incident.reporter_id or is_team_manager(user, incident) or user.role == Role.ADMIN):
        raise Forbidden(f"Only the reporter or their managers can {what}.")
