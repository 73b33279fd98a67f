"""The post-incident procedure as a workflow: who does each step, by when, and what may follow.

    draft ─confirm─▶ reported ─acknowledge─▶ acknowledged ─triage─▶ triaged
    triaged ─▶ under_investigation ─▶ actions_open ─▶ hs_review ─▶ closed
    triaged ─▶ hs_review                  (investigation level "none")
    under_investigation ─▶ hs_review      (nothing to act on)
    hs_review ─▶ under_investigation      (the lead sends it back)
    acknowledged … hs_review ─▶ information_required ─▶ back where it was
    closed ─reopen (with a reason)─▶ under_investigation

Each status has an owner and a target time; the sweep reminds the owner when a target passes.
Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, InvalidTransition
from safetycheck.extensions import db
from safetycheck.incidents import reach
from safetycheck.incidents.enums import (
    SERIOUS_CATEGORIES,
    ActionStatus,
    IncidentStatus,
    InvestigationLevel,
)
from safetycheck.incidents.models import Incident, IncidentAction
from safetycheck.localtime import add_working_days
from safetycheck.timeline import service as timeline

S = IncidentStatus

# Target times (organisation policy, not law: change them here).
ACKNOWLEDGE_SERIOUS = timedelta(minutes=15)  # assault, weapon, sexual incident, being held
ACKNOWLEDGE_OTHER = timedelta(hours=24)
CONFIRM_DRAFT = timedelta(days=3)
WORKING_DAYS = {
    S.ACKNOWLEDGED: 2,  # to triage
    S.TRIAGED: 5,  # to start the investigation
    S.UNDER_INVESTIGATION: 20,  # to finish it
    S.HS_REVIEW: 10,
    S.INFORMATION_REQUIRED: 5,  # for the reporter to answer
}
# An overdue step is reminded again this often until it moves.
REMIND_EVERY = timedelta(hours=24)
# While a serious incident's alarm is chasing, check this often whether someone took charge by text.
ALARM_SYNC_EVERY = timedelta(minutes=1)

OPEN_STATUSES = frozenset(set(S) - {S.DRAFT, S.CLOSED})
# Statuses from which a question can go back to the reporter.
QUESTIONABLE = frozenset({S.ACKNOWLEDGED, S.TRIAGED, S.UNDER_INVESTIGATION, S.ACTIONS_OPEN, S.HS_REVIEW})


def is_serious(incident: Incident) -> bool:
    return incident.category in SERIOUS_CATEGORIES


def target_for(incident: Incident, status: IncidentStatus, since: datetime) -> datetime | None:
    """When the step that starts at `since` in `status` should be done; None: no step target."""
    if status == S.DRAFT:
        return since + CONFIRM_DRAFT
    if status == S.REPORTED:
        return since + (ACKNOWLEDGE_SERIOUS if is_serious(incident) else ACKNOWLEDGE_OTHER)
    if status in WORKING_DAYS:
        return add_working_days(since, WORKING_DAYS[status])
    return None  # actions_open: each action has its own due date; closed: nothing left


def owners(incident: Incident) -> list[User]:
    """Who must move the incident on from its current status."""
    if incident.status in (S.DRAFT, S.INFORMATION_REQUIRED):
        if reach.reporter_may_see(incident):
            return [incident.reporter]
        # Drafted from a duress alarm: the manager who resolved it and the team's managers own it.
        people = [account_service.get_user(incident.created_by)]
        if incident.team_id is not None:
            people += account_service.team_managers(incident.team_id)
        owners: dict[int, User] = {}
        for person in people:
            if person.active and person.id != incident.reporter_id:
                owners.setdefault(person.id, person)
        return list(owners.values())
    if incident.status == S.HS_REVIEW:
        return list(
            db.session.scalars(
                sa.select(User).where(User.role == Role.HS_LEAD, User.active).order_by(User.id)
            )
        )
    if incident.status in OPEN_STATUSES and incident.team_id is not None:
        return account_service.team_managers(incident.team_id)
    return []


def set_status(
    incident: Incident, status: IncidentStatus, *, now: datetime, actor_id: int | None, **details: Any
) -> None:
    """Move to `status`, start its clock, and put the change on the timeline."""
    previous = incident.status
    incident.status = status
    incident.step_due_at = target_for(incident, status, now)
    incident.next_reminder_at = incident.step_due_at
    db.session.flush()
    timeline.record(
        "incident",
        incident.id,
        "status_changed",
        at=now,
        actor_id=actor_id,
        **{"from": str(previous) if previous else None, "to": str(status), **details},
    )


@dataclass(frozen=True)
class Step:
    """A plain move through `transition`: who may make it."""

    who: str  # "manager" (the team's managers and admins) or "lead" (leads and admins)


PLAIN_STEPS: dict[tuple[IncidentStatus, IncidentStatus], Step] = {
    (S.TRIAGED, S.UNDER_INVESTIGATION): Step("manager"),
    (S.TRIAGED, S.HS_REVIEW): Step("manager"),
    (S.UNDER_INVESTIGATION, S.ACTIONS_OPEN): Step("manager"),
    (S.UNDER_INVESTIGATION, S.HS_REVIEW): Step("manager"),
    (S.ACTIONS_OPEN, S.HS_REVIEW): Step("manager"),
    (S.HS_REVIEW, S.UNDER_INVESTIGATION): Step("lead"),
    (S.HS_REVIEW, S.CLOSED): Step("lead"),
}
TRANSITION_TARGETS = frozenset(to for _, to in PLAIN_STEPS)


def transition(
    actor: User, incident: Incident, *, to: IncidentStatus, now: datetime, note: str | None = None
) -> None:
    """Make one of the plain moves, checking the role and the rules that guard it."""
    step = PLAIN_STEPS.get((incident.status, to))
    if step is None:
        allowed = ", ".join(allowed_from(incident.status)) or "nothing"
        raise InvalidTransition(
            f"An incident cannot go from {incident.status} to {to}.",
            {"to": [f"Allowed from {incident.status}: {allowed}."]},
        )
    if step.who == "lead":
        reach.require_lead(actor, what=f"move an incident to {to}")
    else:
        reach.require_manager(actor, incident, what=f"move an incident to {to}")
    _guard(incident, to)
    if to == S.CLOSED:
        incident.closed_at, incident.closed_by = now, actor.id
    set_status(incident, to, now=now, actor_id=actor.id, note=note)


def allowed_from(status: IncidentStatus) -> list[str]:
    return [str(to) for (frm, to) in PLAIN_STEPS if frm == status]


def open_action_count(incident_id: int) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(IncidentAction)
            .where(IncidentAction.incident_id == incident_id, IncidentAction.status == ActionStatus.OPEN)
        )
        or 0
    )


def _guard(incident: Incident, to: IncidentStatus) -> None:
    if (
        incident.status == S.TRIAGED
        and to == S.HS_REVIEW
        and incident.investigation_level != InvestigationLevel.NONE
    ):
        raise Conflict(
            f"Investigation level is {incident.investigation_level}: start the investigation first.",
            {"to": ["Only an incident triaged with investigation level 'none' skips investigation."]},
        )
    if to == S.ACTIONS_OPEN and open_action_count(incident.id) == 0:
        raise Conflict("Add at least one action before moving to actions_open.", {"actions": ["None open."]})
    if to == S.HS_REVIEW and (count := open_action_count(incident.id)):
        raise Conflict(
            f"{count} action(s) are still open: complete or cancel them first.",
            {"actions": [f"{count} open."]},
        )
    if to == S.CLOSED and incident.feedback_at is None:
        raise Conflict(
            "An incident cannot close without feedback to the reporter.",
            {"feedback": ["Give the reporter feedback first (POST /incidents/{id}/feedback)."]},
        )
