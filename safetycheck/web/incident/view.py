"""What the incident page shows: words for statuses and timeline entries, and the steps open now.

`steps_for` asks the same questions as the procedure's services (`reach`, `workflow`), so the page
offers exactly the buttons the signed-in person could use through the API at this moment. The
services still check everything again when a form is posted (a page may be stale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safetycheck.accounts import people
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.incidents import actions as action_service
from safetycheck.incidents import reach, riddor, workflow
from safetycheck.incidents.enums import (
    ActionStatus,
    IncidentCategory,
    IncidentStatus,
    InvestigationLevel,
)
from safetycheck.incidents.models import Incident, IncidentAction, IncidentSupport

S = IncidentStatus

STATUS_LABELS = {
    S.DRAFT: "Draft",
    S.REPORTED: "Reported",
    S.ACKNOWLEDGED: "Acknowledged",
    S.TRIAGED: "Triaged",
    S.UNDER_INVESTIGATION: "Under investigation",
    S.ACTIONS_OPEN: "Actions open",
    S.HS_REVIEW: "Health and safety review",
    S.INFORMATION_REQUIRED: "Information required",
    S.CLOSED: "Closed",
}
# GOV.UK tag colours; the tag always carries its word, so colour is never the only signal.
STATUS_TAGS = {
    S.DRAFT: "govuk-tag--grey",
    S.REPORTED: "govuk-tag--red",
    S.ACKNOWLEDGED: "govuk-tag--orange",
    S.TRIAGED: "govuk-tag--yellow",
    S.UNDER_INVESTIGATION: "govuk-tag--blue",
    S.ACTIONS_OPEN: "govuk-tag--purple",
    S.HS_REVIEW: "govuk-tag--turquoise",
    S.INFORMATION_REQUIRED: "govuk-tag--pink",
    S.CLOSED: "govuk-tag--green",
}
# The button that makes each plain move, and what the move means.
MOVE_BUTTONS = {
    S.UNDER_INVESTIGATION: "Start the investigation",
    S.ACTIONS_OPEN: "Move to actions open",
    S.HS_REVIEW: "Send for health and safety review",
    S.CLOSED: "Close the incident",
}
RETURN_BUTTON = "Send back for investigation"  # hs_review -> under_investigation
STEP_OWNERS = {
    S.DRAFT: "the practitioner, to confirm it",
    S.REPORTED: "the team's managers, to acknowledge it",
    S.ACKNOWLEDGED: "the team's managers, to triage it",
    S.TRIAGED: "the team's managers, to start the investigation",
    S.UNDER_INVESTIGATION: "the team's managers, to finish the investigation",
    S.ACTIONS_OPEN: "each action's owner, by its due date",
    S.HS_REVIEW: "a health and safety lead, to review and close it",
    S.INFORMATION_REQUIRED: "the reporter, to answer the question",
    S.CLOSED: "nobody: the incident is closed",
}
EVENTS = {
    "reported": "Reported",
    "drafted_from_alarm": "Draft opened from an alarm",
    "confirmed": "Report confirmed",
    "details_updated": "Details changed",
    "feedback_given": "Feedback given to the reporter",
    "marker_proposed": "Household marker proposed",
    "support_updated": "Support recorded",
    "action_added": "Action added",
    "action_updated": "Action updated",
    "riddor_screened": "Screened for RIDDOR",
    "riddor_reclassified": "RIDDOR case recounted",
    "riddor_submitted": "Reported to HSE under RIDDOR",
}
# Timeline details worth a line of their own, in this order.
DETAIL_LABELS = {
    "note": "Note",
    "question": "Question",
    "answer": "Answer",
    "reason": "Reason",
    "message": "Feedback",
    "title": "Action",
    "harm": "Harm",
    "risk_score": "Risk score",
    "investigation_level": "Investigation level",
    "hse_reference": "HSE reference",
}
SUPPORT_ITEMS = {
    "welfare_check": "Welfare check",
    "follow_up_2w": "Follow-up at 2 weeks",
    "follow_up_6w": "Follow-up at 6 weeks",
}
ACTION_LABELS = {ActionStatus.OPEN: "Open", ActionStatus.DONE: "Done", ActionStatus.CANCELLED: "Cancelled"}


def status_label(status: IncidentStatus | str | None) -> str:
    return STATUS_LABELS.get(S(status), str(status)) if status else ""


def category_label(category: IncidentCategory | str | None) -> str:
    """ "physical_assault" -> "Physical assault"; a draft has no category yet."""
    if not category:
        return "Not given yet"
    return str(category).replace("_", " ").capitalize()


def words(value: object) -> str:
    """A stored vocabulary value in words: "manager_review" -> "Manager review"."""
    return str(value).replace("_", " ").capitalize() if value not in (None, "") else ""


@dataclass(frozen=True)
class Move:
    to: str
    button: str


@dataclass
class Steps:
    """The steps the signed-in person may take now; each is one form on the page."""

    acknowledge: bool = False
    triage: bool = False
    moves: list[Move] = field(default_factory=list)
    close: bool = False
    close_needs_feedback: bool = False
    ask: bool = False
    ask_refused: str | None = None  # why the reporter cannot be asked (a duress incident)
    feedback: bool = False
    reopen: bool = False
    add_action: bool = False
    propose_marker: bool = False
    support: list[tuple[str, str]] = field(default_factory=list)  # (field, button text)
    riddor_submit: bool = False

    @property
    def any(self) -> bool:
        return bool(
            self.acknowledge
            or self.triage
            or self.moves
            or self.close
            or self.ask
            or self.feedback
            or self.reopen
            or self.add_action
            or self.propose_marker
            or self.support
            or self.riddor_submit
        )


def steps_for(user: User, incident: Incident) -> Steps:
    """The procedure's own role and state rules, read for the buttons (see module docstring)."""
    status = incident.status
    runs_it = reach.is_team_manager(user, incident) or user.role == Role.ADMIN  # require_manager
    reviewer = runs_it or user.role == Role.HS_LEAD  # require_reviewer
    lead = user.role in (Role.HS_LEAD, Role.ADMIN)  # require_lead
    steps = Steps()
    if status == S.DRAFT:
        return steps  # a draft is confirmed first (its owners do it, through the report form)
    steps.acknowledge = status == S.REPORTED and runs_it
    steps.triage = status == S.ACKNOWLEDGED and runs_it
    open_actions = workflow.open_action_count(incident.id) if status in workflow.QUESTIONABLE else 0
    for (frm, to), step in workflow.PLAIN_STEPS.items():
        if frm != status or not (lead if step.who == "lead" else runs_it):
            continue
        if to == S.CLOSED:
            steps.close = incident.feedback_at is not None
            steps.close_needs_feedback = incident.feedback_at is None
            continue
        if not _guard_allows(incident, to, open_actions):
            continue
        button = RETURN_BUTTON if status == S.HS_REVIEW else MOVE_BUTTONS[to]
        steps.moves.append(Move(str(to), button))
    if reviewer and status in workflow.QUESTIONABLE:
        if reach.reporter_may_see(incident):
            steps.ask = True
        else:
            steps.ask_refused = (
                "This incident came from a duress alarm: the practitioner is never asked or texted "
                "about it through SafetyCheck. Speak to them in person."
            )
    steps.feedback = reviewer and status != S.CLOSED
    steps.reopen = reviewer and status == S.CLOSED
    steps.add_action = reviewer and status in action_service.ACTIONABLE
    steps.propose_marker = reviewer and incident.household_id is not None
    if reviewer and incident.support is not None:
        steps.support = support_buttons(incident.support)
    row = incident.riddor
    steps.riddor_submit = bool(
        reviewer
        and row is not None
        and row.submitted_at is None
        and row.classification in (*riddor.REPORTABLE, riddor.RiddorClass.PENDING)
    )
    return steps


# What support.update accepts from managers, as buttons, while the step is still to do.
SUPPORT_BUTTONS = {
    "welfare_check_done": "Welfare check done",
    "debrief_offered": "Debrief offered",
    "follow_up_2w_done": "2-week follow-up done",
    "follow_up_6w_done": "6-week follow-up done",
}


def support_buttons(row: IncidentSupport) -> list[tuple[str, str]]:
    open_steps = {
        "welfare_check_done": row.welfare_check_done_at is None,
        "debrief_offered": row.debrief_offered_at is None,
        "follow_up_2w_done": row.follow_up_2w_due_at is not None and row.follow_up_2w_done_at is None,
        "follow_up_6w_done": row.follow_up_6w_due_at is not None and row.follow_up_6w_done_at is None,
    }
    return [(name, text) for name, text in SUPPORT_BUTTONS.items() if open_steps[name]]


def _guard_allows(incident: Incident, to: IncidentStatus, open_actions: int) -> bool:
    """The workflow's guards (workflow._guard), so a button is only offered when it would work."""
    if incident.status == S.TRIAGED and to == S.HS_REVIEW:
        return incident.investigation_level == InvestigationLevel.NONE
    if to == S.ACTIONS_OPEN:
        return open_actions > 0
    if to == S.HS_REVIEW:
        return open_actions == 0
    return True


# --- names, timeline, actions -------------------------------------------------------------------


def names_of(ids: set[int | None]) -> dict[int, str]:
    """People's names by id, for the timeline and the actions."""
    return {i: account_service.get_user(i).name for i in ids if i is not None}


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    title: str
    by: str | None
    details: list[tuple[str, str]]


def timeline_lines(entries: list[dict[str, Any]], names: dict[int, str]) -> list[TimelineLine]:
    """The timeline as `incident_service.timeline_for` gives it (restricted entries already
    left out for those who may not read them), newest first, in words."""
    lines = []
    for entry in reversed(entries):
        details = dict(entry.get("details") or {})
        if entry["event"] == "status_changed":
            before, after = details.get("from"), details.get("to")
            title = f"{status_label(before)} → {status_label(after)}" if before else status_label(after)
        else:
            title = EVENTS.get(entry["event"], words(entry["event"]))
        shown = [
            (label, words(details[key]) if key in ("harm", "investigation_level") else str(details[key]))
            for key, label in DETAIL_LABELS.items()
            if details.get(key) not in (None, "")
        ]
        if "owner_id" in details and details["owner_id"] in names:
            shown.append(("Owner", names[details["owner_id"]]))
        actor = entry.get("actor_id")
        lines.append(TimelineLine(entry["at"], title, names.get(actor) if actor else None, shown))
    return lines


def timeline_people(entries: list[dict[str, Any]]) -> set[int | None]:
    found: set[int | None] = set()
    for entry in entries:
        found.add(entry.get("actor_id"))
        owner = (entry.get("details") or {}).get("owner_id")
        if isinstance(owner, int):
            found.add(owner)
    return found


def action_owner_choices(incident: Incident) -> list[tuple[int, str]]:
    """Who may own an action (actions._owner): the team's managers, leads, admins, the reporter."""
    order = {Role.MANAGER: 0, Role.HS_LEAD: 1, Role.ADMIN: 2}
    staff = sorted(
        (
            p
            for p in people.list_people()
            if p.active and (reach.is_team_manager(p, incident) or p.role in (Role.HS_LEAD, Role.ADMIN))
        ),
        key=lambda p: (order[p.role], p.name),
    )
    chosen = [(p.id, f"{p.name} ({_role_word(p.role)})") for p in staff]
    if reach.reporter_may_see(incident):
        chosen.append((incident.reporter.id, f"{incident.reporter.name} (reporter)"))
    return chosen


def _role_word(role: Role) -> str:
    return {Role.MANAGER: "manager", Role.HS_LEAD: "health and safety lead", Role.ADMIN: "admin"}.get(
        role, "practitioner"
    )


def may_complete(user: User, incident: Incident, action: IncidentAction) -> bool:
    """The owner may mark their own open action done; reviewers may mark any."""
    if action.status != ActionStatus.OPEN:
        return False
    reviewer = reach.is_team_manager(user, incident) or user.role in (Role.HS_LEAD, Role.ADMIN)
    return reviewer or user.id == action.owner_id
