"""Texts about incidents, through the escalation outbox.

SMS is not a secure channel: texts name the reporter, the category in plain words, when and
where, and say where to act (the app or web); never the description, injuries or case details.
Every text has a dedupe key, so a retried request or a second sweeper cannot send it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from safetycheck.accounts.models import User
from safetycheck.escalation import outbox
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.extensions import db
from safetycheck.households.models import Marker
from safetycheck.incidents.enums import IncidentCategory
from safetycheck.incidents.models import Incident, IncidentAction
from safetycheck.localtime import local_zone
from safetycheck.visits.models import Visit

ACT_IN_APP = "in SafetyCheck (app or web)"


def when(moment: datetime) -> str:
    """ "14:05 GMT Mon 2 Mar": managers read local time, with the zone around clock changes."""
    local = moment.astimezone(local_zone())
    return f"{local:%H:%M %Z} {local:%a} {local.day} {local:%b}"


def _short(text: str | None, limit: int = 60) -> str:
    if not text:
        return "address not given"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _what(incident: Incident) -> str:
    if incident.near_miss:
        kind = f" ({incident.near_miss_kind.plain})" if incident.near_miss_kind else ""
        return f"a near miss{kind}"
    return IncidentCategory(incident.category).plain if incident.category else "an incident"


def _send(key: str, people: Iterable[User], body: str, now: datetime) -> int:
    sent = 0
    seen: set[int] = set()
    for person in people:
        if person.id in seen or not person.active:
            continue
        seen.add(person.id)
        message = outbox.enqueue(
            dedupe_key=f"{key}:user:{person.id}",
            purpose=MessagePurpose.INCIDENT,
            recipient=person,
            body=body,
            now=now,
        )
        sent += message is not None
    return sent


def where(incident: Incident) -> str | None:
    """The incident's address, or its visit's when none was given."""
    if incident.address:
        return incident.address
    visit = db.session.get(Visit, incident.visit_id) if incident.visit_id is not None else None
    return visit.address if visit is not None else None


def reported_text(incident: Incident, *, serious: bool) -> str:
    head = "SafetyCheck SERIOUS INCIDENT" if serious else "SafetyCheck incident"
    return (
        f"{head}: {incident.reporter.name} reported {_what(incident)} at {when(incident.occurred_at)}, "
        f"{_short(where(incident))}. Please contact them and acknowledge incident {incident.id} "
        f"{ACT_IN_APP}."
    )


def reported(incident: Incident, people: Iterable[User], *, now: datetime, serious: bool) -> int:
    """Tell managers (and on-call, when serious) at once that a worker reported an incident."""
    return _send(f"incident:{incident.id}:reported", people, reported_text(incident, serious=serious), now)


def became_serious(incident: Incident, people: Iterable[User], *, now: datetime) -> int:
    """A report corrected to a serious category: tell everyone who must hear of a serious one."""
    body = reported_text(incident, serious=True)
    return _send(f"incident:{incident.id}:became_serious", people, body, now)


STEP_WORDS = {
    "draft": "is a draft waiting for you to confirm it",
    "reported": "is waiting to be acknowledged",
    "acknowledged": "is waiting for triage",
    "triaged": "is waiting for its investigation to start",
    "under_investigation": "is waiting for its investigation to finish",
    "actions_open": "has actions waiting",
    "hs_review": "is waiting for health-and-safety review",
    "information_required": "has a question waiting for your answer",
}


def step_overdue(incident: Incident, people: Iterable[User], *, now: datetime, round_: int) -> int:
    """Remind the owners of an overdue step; one text per owner, step, target and round."""
    assert incident.step_due_at is not None
    status = str(incident.status)
    body = (
        f"SafetyCheck reminder: incident {incident.id} ({_what(incident)} reported by "
        f"{incident.reporter.name}) {STEP_WORDS.get(status, 'is waiting')}; the target was "
        f"{when(incident.step_due_at)}. Please act on it {ACT_IN_APP}."
    )
    key = f"incident:{incident.id}:remind:{status}:{incident.step_due_at.isoformat()}:{round_}"
    return _send(key, people, body, now)


def action_overdue(action: IncidentAction, owner: User, *, now: datetime, round_: int) -> int:
    body = (
        f"SafetyCheck reminder: your action {action.id} on incident {action.incident_id} was due at "
        f"{when(action.due_at)}. Please complete or update it {ACT_IN_APP}."
    )
    key = f"incident_action:{action.id}:remind:{action.due_at.isoformat()}:{round_}"
    return _send(key, [owner], body, now)


SUPPORT_WORDS = {
    "welfare_check": "welfare check",
    "follow_up_2w": "two-week follow-up",
    "follow_up_6w": "six-week follow-up",
}


def support_overdue(
    incident: Incident, item: str, due_at: datetime, people: Iterable[User], *, now: datetime, round_: int
) -> int:
    body = (
        f"SafetyCheck reminder: the {SUPPORT_WORDS[item]} for {incident.reporter.name} after incident "
        f"{incident.id} was due at {when(due_at)}. Please contact them and record it {ACT_IN_APP}."
    )
    key = f"incident:{incident.id}:support:{item}:{due_at.isoformat()}:{round_}"
    return _send(key, people, body, now)


def question_for_reporter(incident: Incident, *, now: datetime) -> int:
    body = (
        f"SafetyCheck: there is a question about your incident report {incident.id}. "
        f"Please answer it {ACT_IN_APP}."
    )
    return _send(f"incident:{incident.id}:question:{now.isoformat()}", [incident.reporter], body, now)


def feedback_for_reporter(incident: Incident, *, now: datetime) -> int:
    body = f"SafetyCheck: there is feedback on your incident report {incident.id}. Read it {ACT_IN_APP}."
    return _send(f"incident:{incident.id}:feedback:{now.isoformat()}", [incident.reporter], body, now)


def marker_review_due(marker: Marker, people: Iterable[User], *, now: datetime) -> int:
    where = marker.household.postcode or "no postcode"
    body = (
        f"SafetyCheck: household marker {marker.id} ({where}) is due for review by "
        f"{when(marker.review_at)}. Renew it with a new incident, or it expires then. Review it {ACT_IN_APP}."
    )
    return _send(f"marker:{marker.id}:review:{marker.review_at.isoformat()}", people, body, now)
