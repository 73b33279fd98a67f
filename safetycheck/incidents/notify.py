"""Texts about incidents, through the escalation outbox (their words are in `safetycheck/wording.py`).

SMS is not a secure channel: texts name the reporter, the category in plain words, when and
where, and say where to act (the app or web); never the description, injuries or case details.
Every text has a dedupe key, so a retried request or a second sweeper cannot send it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from safetycheck import wording
from safetycheck.accounts.models import User
from safetycheck.escalation import outbox
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.extensions import db
from safetycheck.households.models import Marker
from safetycheck.incidents.enums import IncidentCategory
from safetycheck.incidents.models import Incident, IncidentAction
from safetycheck.visits.models import Visit
from safetycheck.wording import when as when


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
    return wording.incident_reported(
        incident_id=incident.id,
        reporter_name=incident.reporter.name,
        what=_what(incident),
        occurred_at=incident.occurred_at,
        where=where(incident),
        serious=serious,
    )


def reported(incident: Incident, people: Iterable[User], *, now: datetime, serious: bool) -> int:
    """Tell managers (and on-call, when serious) at once that a worker reported an incident."""
    return _send(f"incident:{incident.id}:reported", people, reported_text(incident, serious=serious), now)


def became_serious(incident: Incident, people: Iterable[User], *, now: datetime) -> int:
    """A report corrected to a serious category: tell everyone who must hear of a serious one."""
    body = reported_text(incident, serious=True)
    return _send(f"incident:{incident.id}:became_serious", people, body, now)


def step_overdue(incident: Incident, people: Iterable[User], *, now: datetime, round_: int) -> int:
    """Remind the owners of an overdue step; one text per owner, step, target and round."""
    assert incident.step_due_at is not None
    status = str(incident.status)
    body = wording.incident_step_overdue(
        incident_id=incident.id,
        what=_what(incident),
        reporter_name=incident.reporter.name,
        status=status,
        due_at=incident.step_due_at,
    )
    key = f"incident:{incident.id}:remind:{status}:{incident.step_due_at.isoformat()}:{round_}"
    return _send(key, people, body, now)


def action_overdue(action: IncidentAction, owner: User, *, now: datetime, round_: int) -> int:
    body = wording.incident_action_overdue(
        action_id=action.id, incident_id=action.incident_id, due_at=action.due_at
    )
    key = f"incident_action:{action.id}:remind:{action.due_at.isoformat()}:{round_}"
    return _send(key, [owner], body, now)


def support_overdue(
    incident: Incident, item: str, due_at: datetime, people: Iterable[User], *, now: datetime, round_: int
) -> int:
    body = wording.incident_support_overdue(
        item=item, reporter_name=incident.reporter.name, incident_id=incident.id, due_at=due_at
    )
    key = f"incident:{incident.id}:support:{item}:{due_at.isoformat()}:{round_}"
    return _send(key, people, body, now)


def question_for_reporter(incident: Incident, *, now: datetime) -> int:
    body = wording.incident_question(incident_id=incident.id)
    return _send(f"incident:{incident.id}:question:{now.isoformat()}", [incident.reporter], body, now)


def feedback_for_reporter(incident: Incident, *, now: datetime) -> int:
    body = wording.incident_feedback(incident_id=incident.id)
    return _send(f"incident:{incident.id}:feedback:{now.isoformat()}", [incident.reporter], body, now)


def marker_review_due(marker: Marker, people: Iterable[User], *, now: datetime) -> int:
    body = wording.marker_review_due(
        marker_id=marker.id, postcode=marker.household.postcode, review_at=marker.review_at
    )
    return _send(f"marker:{marker.id}:review:{marker.review_at.isoformat()}", people, body, now)
