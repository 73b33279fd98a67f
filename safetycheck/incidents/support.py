"""The support track: a welfare check, a debrief offered, referrals, follow-ups.

It runs beside the procedure on its own clock and the worker can see it. The worker controls
their side: they accept or decline the debrief, and can say no to further follow-ups, which
stops the reminders. Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, Forbidden
from safetycheck.extensions import db
from safetycheck.incidents import reach
from safetycheck.incidents.enums import SERIOUS_CATEGORIES, DebriefResponse
from safetycheck.incidents.models import Incident, IncidentSupport
from safetycheck.timeline import service as timeline

WELFARE_CHECK_URGENT = timedelta(hours=24)  # harmed, or a serious category
WELFARE_CHECK = timedelta(hours=72)
FOLLOW_UP_2W = timedelta(days=14)
FOLLOW_UP_6W = timedelta(days=42)
REFERRALS = ("occupational_health", "counselling", "employee_assistance", "gp", "victim_support", "other")

MANAGER_FIELDS = frozenset(
    {"welfare_check_done", "debrief_offered", "referrals", "follow_up_2w_done", "follow_up_6w_done"}
)
WORKER_FIELDS = frozenset({"debrief_response", "decline_follow_ups"})


def start(incident: Incident, *, now: datetime) -> IncidentSupport:
    """Open the track when an incident is reported; near misses get the welfare check only."""
    if incident.support is not None:
        return incident.support
    urgent = bool(incident.harmed) or incident.category in SERIOUS_CATEGORIES
    follow_ups = not incident.near_miss
    row = IncidentSupport(
        incident_id=incident.id,
        welfare_check_due_at=now + (WELFARE_CHECK_URGENT if urgent else WELFARE_CHECK),
        referrals=[],
        follow_up_2w_due_at=now + FOLLOW_UP_2W if follow_ups else None,
        follow_up_6w_due_at=now + FOLLOW_UP_6W if follow_ups else None,
    )
    row.next_reminder_at = next_due(row)
    db.session.add(row)
    incident.support = row
    db.session.flush()
    return row


def pending(row: IncidentSupport) -> list[tuple[str, datetime]]:
    """The items still to do, with their due times."""
    items = []
    if row.welfare_check_done_at is None:
        items.append(("welfare_check", row.welfare_check_due_at))
    if row.declined_at is None:
        if row.follow_up_2w_due_at is not None and row.follow_up_2w_done_at is None:
            items.append(("follow_up_2w", row.follow_up_2w_due_at))
        if row.follow_up_6w_due_at is not None and row.follow_up_6w_done_at is None:
            items.append(("follow_up_6w", row.follow_up_6w_due_at))
    return items


def view(row: IncidentSupport) -> dict[str, Any]:
    names = [
        c.key for c in IncidentSupport.__table__.columns if c.key not in ("incident_id", "next_reminder_at")
    ]
    data = {name: getattr(row, name) for name in names}
    data["pending"] = [{"item": item, "due_at": due_at.isoformat()} for item, due_at in pending(row)]
    return data


def next_due(row: IncidentSupport) -> datetime | None:
    dues = [due for _, due in pending(row)]
    return min(dues) if dues else None


def update(actor: User, incident: Incident, changes: dict[str, Any], *, now: datetime) -> IncidentSupport:
    """Record support steps: managers record what they did, the worker answers for themselves."""
    row = incident.support
    if row is None:
        raise Conflict("This incident has no support track yet (confirm the report first).")
    worker_side = WORKER_FIELDS & changes.keys()
    manager_side = MANAGER_FIELDS & changes.keys()
    if worker_side and actor.id != incident.reporter_id:
        raise Forbidden(f"Only the worker can answer for themselves: {', '.join(sorted(worker_side))}.")
    if manager_side:
        reach.require_reviewer(actor, incident, what="record support steps")
    done: dict[str, Any] = {}
    for name, stamp in (
        ("welfare_check_done", "welfare_check"),
        ("follow_up_2w_done", "follow_up_2w"),
        ("follow_up_6w_done", "follow_up_6w"),
    ):
        if changes.get(name) and getattr(row, f"{stamp}_done_at") is None:
            if stamp != "welfare_check" and getattr(row, f"{stamp}_due_at") is None:
                raise Conflict(
                    "A near miss has no follow-ups to record.", {name: ["No follow-up scheduled."]}
                )
            setattr(row, f"{stamp}_done_at", now)
            if stamp == "welfare_check":
                row.welfare_check_by = actor.id
            done[stamp] = True
    if changes.get("debrief_offered") and row.debrief_offered_at is None:
        row.debrief_offered_at, row.debrief_offered_by = now, actor.id
        done["debrief_offered"] = True
    for referral in changes.get("referrals") or []:
        if referral not in row.referrals:
            row.referrals = [*row.referrals, referral]
            done.setdefault("referrals", []).append(referral)
    if (response := changes.get("debrief_response")) is not None:
        if row.debrief_offered_at is None:
            raise Conflict("No debrief has been offered yet.", {"debrief_response": ["Nothing to answer."]})
        row.debrief_response, row.debrief_responded_at = DebriefResponse(response), now
        done["debrief_response"] = str(response)
    if changes.get("decline_follow_ups") and row.declined_at is None:
        row.declined_at = now
        done["declined_follow_ups"] = True
    row.next_reminder_at = next_due(row)
    db.session.flush()
    if done:
        timeline.record("incident", incident.id, "support_updated", at=now, actor_id=actor.id, **done)
    return row
