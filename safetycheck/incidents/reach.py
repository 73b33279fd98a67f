"""Who may see which incidents and who may act on them.

Leads and admins see the whole register, managers their team's incidents, practitioners their own
reports. Anything outside that reach is "not found", so ids cannot be probed.

An incident drafted from a duress alarm is *restricted*: whoever holds the practitioner's phone
may be the threat, so it never shows to the practitioner it concerns (not in their register, not
by id, no texts, no questions, no actions) and their managers own it.
"""

from __future__ import annotations

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Forbidden, NotFound
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm
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
    return sa.and_(Incident.reporter_id == user.id, sa.not_(restricted_clause()))


def restricted_clause() -> sa.ColumnElement[bool]:
    """Incidents drafted from a duress alarm (the alarm is the one source of truth for that)."""
    duress = sa.select(Alarm.id).where(Alarm.kind == AlarmKind.DURESS)
    return sa.and_(Incident.alarm_id.is_not(None), Incident.alarm_id.in_(duress))


def is_restricted(incident: Incident) -> bool:
    """Drafted from a duress alarm: hidden from its practitioner, owned by the managers."""
    if incident.alarm_id is None:
        return False
    return db.session.scalar(sa.select(Alarm.kind).where(Alarm.id == incident.alarm_id)) == AlarmKind.DURESS


def reporter_may_see(incident: Incident) -> bool:
    """Whether the reporter may be shown, texted or asked anything about this incident."""
    return not is_restricted(incident)


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
    reporter = user.id == incident.reporter_id and reporter_may_see(incident)
    if not (reporter or is_team_manager(user, incident) or user.role == Role.ADMIN):
        raise Forbidden(f"Only the reporter or their managers can {what}.")
