"""Actions arising from an incident: what, who, by when; done or cancelled, never deleted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, NotFound, ValidationFailed
from safetycheck.extensions import db
from safetycheck.incidents import reach
from safetycheck.incidents.enums import ActionStatus, IncidentStatus
from safetycheck.incidents.models import Incident, IncidentAction
from safetycheck.timeline import service as timeline

# Actions come out of triage and investigation; a report nobody has looked at has none yet.
ACTIONABLE = frozenset(
    {
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.TRIAGED,
        IncidentStatus.UNDER_INVESTIGATION,
        IncidentStatus.ACTIONS_OPEN,
        IncidentStatus.HS_REVIEW,
        IncidentStatus.INFORMATION_REQUIRED,
    }
)


def actions_for(incident_id: int) -> list[IncidentAction]:
    return list(
        db.session.scalars(
            sa.select(IncidentAction)
            .where(IncidentAction.incident_id == incident_id)
            .order_by(IncidentAction.id)
        )
    )


def add(
    actor: User, incident: Incident, *, title: str, owner_id: int, due_at: datetime, now: datetime
) -> IncidentAction:
    reach.require_reviewer(actor, incident, what="add actions")
    if incident.status not in ACTIONABLE:
        raise Conflict(f"No actions can be added to an incident that is {incident.status}.")
    owner = _owner(incident, owner_id)
    if due_at <= now:
        raise ValidationFailed("Invalid due date.", {"due_at": ["Must lie in the future."]})
    action = IncidentAction(
        incident_id=incident.id,
        title=title.strip(),
        owner_id=owner.id,
        due_at=due_at,
        status=ActionStatus.OPEN,
        created_at=now,
        created_by=actor.id,
        next_reminder_at=due_at,
    )
    db.session.add(action)
    db.session.flush()
    timeline.record(
        "incident",
        incident.id,
        "action_added",
        at=now,
        actor_id=actor.id,
        action_id=action.id,
        title=action.title,
        owner_id=owner.id,
        due_at=due_at.isoformat(),
    )
    return action


def update(
    actor: User,
    incident: Incident,
    action_id: int,
    *,
    now: datetime,
    status: ActionStatus | None = None,
    due_at: datetime | None = None,
    owner_id: int | None = None,
    note: str | None = None,
) -> IncidentAction:
    """Complete, cancel, move or hand over an open action; the owner may complete their own."""
    action = db.session.scalar(
        sa.select(IncidentAction)
        .where(IncidentAction.id == action_id, IncidentAction.incident_id == incident.id)
        .with_for_update(of=IncidentAction)
    )
    if action is None:
        raise NotFound("Action not found.")
    is_owner_completing = (
        actor.id == action.owner_id and status == ActionStatus.DONE and not (due_at or owner_id)
    )
    if not is_owner_completing:
        reach.require_reviewer(actor, incident, what="change actions")
    if action.status != ActionStatus.OPEN:
        raise Conflict(f"This action is already {action.status}.", {"status": [str(action.status)]})
    if status == ActionStatus.CANCELLED and not (note and note.strip()):
        raise ValidationFailed(
            "Say why the action is cancelled.", {"note": ["Required to cancel an action."]}
        )
    if status == ActionStatus.OPEN:
        raise ValidationFailed("Invalid status.", {"status": ["Use done or cancelled."]})
    changes: dict[str, dict[str, object]] = {}
    if due_at is not None and due_at != action.due_at:
        if due_at <= now:
            raise ValidationFailed("Invalid due date.", {"due_at": ["Must lie in the future."]})
        changes["due_at"] = {"old": action.due_at.isoformat(), "new": due_at.isoformat()}
        action.due_at = action.next_reminder_at = due_at
    if owner_id is not None and owner_id != action.owner_id:
        changes["owner_id"] = {"old": action.owner_id, "new": _owner(incident, owner_id).id}
        action.owner_id = owner_id
    if status is not None:
        changes["status"] = {"old": str(action.status), "new": str(status)}
        action.status = status
        action.completed_at, action.completed_by = now, actor.id
        action.next_reminder_at = None
    if note:
        action.note = note
    db.session.flush()
    timeline.record(
        "incident",
        incident.id,
        "action_updated",
        at=now,
        actor_id=actor.id,
        action_id=action.id,
        changes=changes,
        note=note,
    )
    return action


def _owner(incident: Incident, owner_id: int) -> User:
    """Owners must be able to open the incident: its team's managers, leads, admins or the reporter."""
    owner = db.session.get(User, owner_id)
    if (
        owner is None
        or not owner.active
        or not (
            reach.is_team_manager(owner, incident)
            or owner.role in (Role.HS_LEAD, Role.ADMIN)
            or (owner.id == incident.reporter_id and reach.reporter_may_see(incident))
        )
    ):
        raise ValidationFailed(
            "Unknown owner.",
            {"owner_id": ["Must be one of the team's managers, a lead, an admin or the reporter."]},
        )
    return owner
