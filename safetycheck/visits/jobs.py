"""The visits' parts of the sweep: visits past due go overdue, workers near due are reminded.

Visits only change their own rows and announce what happened (`visits/events.py`); escalation,
subscribed at app start, raises the overdue alarm and writes the reminder text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.engine.parts import DEADLINES, sweep_part
from safetycheck.faults import crash_point
from safetycheck.visits import events
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit

BATCH = 100


def _oldest_overdue(session: Any, now: datetime) -> datetime | None:
    oldest: datetime | None = session.scalar(
        sa.select(sa.func.min(Visit.due_at)).where(Visit.status == VisitStatus.ACTIVE, Visit.due_at <= now)
    )
    return oldest


def _next_overdue(session: Any, since: datetime) -> datetime | None:
    """The next active visit to fall due: the engine wakes at that moment rather than its next tick."""
    moment: datetime | None = session.scalar(
        sa.select(sa.func.min(Visit.due_at)).where(Visit.status == VisitStatus.ACTIVE, Visit.due_at > since)
    )
    return moment


def _next_reminder(session: Any, since: datetime) -> datetime | None:
    """The next moment a reminder falls due (its visit's due time less the policy's lead)."""
    before: timedelta = events.reminder_lead.ask(since)
    if not before:
        return None
    due: datetime | None = session.scalar(
        sa.select(sa.func.min(Visit.due_at)).where(
            Visit.status == VisitStatus.ACTIVE,
            Visit.reminded_at.is_(None),
            Visit.due_at > since + before,
        )
    )
    return due - before if due is not None else None


@sweep_part(
    "visits.mark_overdue",
    stage=DEADLINES,
    order=1,
    batch=BATCH,
    oldest_due=_oldest_overdue,
    next_due=_next_overdue,
)
def mark_overdue_visits(session: Any, now: datetime) -> int:
    """Active visits past due become overdue, each announced (escalation raises its alarm)."""
    visits = session.scalars(
        sa.select(Visit)
        .where(Visit.status == VisitStatus.ACTIVE, Visit.due_at <= now)
        .order_by(Visit.due_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Visit)
    ).all()
    # Their practitioners in one query, not one each.
    ids = {visit.practitioner_id for visit in visits}
    practitioners = {user.id: user for user in session.scalars(sa.select(User).where(User.id.in_(ids)))}
    for visit in visits:
        visit.status = VisitStatus.OVERDUE
        practitioner = practitioners[visit.practitioner_id]
        events.visit_went_overdue.announce(
            events.VisitWentOverdue(visit=visit, practitioner=practitioner, now=now)
        )
    crash_point("before_overdue_commit")
    return len(visits)


@sweep_part("visits.remind", stage=DEADLINES, order=2, batch=BATCH, next_due=_next_reminder)
def send_reminders(session: Any, now: datetime) -> int:
    """Remind the worker a few minutes before due, once per due time, so a forgotten check-out is caught."""
    before: timedelta = events.reminder_lead.ask(now)
    if not before:
        return 0
    visits = session.scalars(
        sa.select(Visit)
        .where(
            Visit.status == VisitStatus.ACTIVE,
            Visit.reminded_at.is_(None),
            Visit.due_at <= now + before,
            Visit.due_at > now,
        )
        .order_by(Visit.due_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Visit)
    ).all()
    for visit in visits:
        visit.reminded_at = now
        if visit.checked_in_at >= visit.due_at - before:
            continue  # a visit shorter than the reminder window needs no reminder
        practitioner = session.get(User, visit.practitioner_id)
        assert practitioner is not None
        events.reminder_due.announce(events.ReminderDue(visit=visit, practitioner=practitioner, now=now))
    return len(visits)
