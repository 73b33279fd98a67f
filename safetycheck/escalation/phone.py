"""What the practitioner's phone page needs beyond check-in and check-out.

A phone that lost its signal queues a check-out, an extension, a panic or an incident report
and sends it when the signal returns, perhaps twice (the answer to the first try may have been
lost). Each carries an Idempotency-Key; `already_applied` and `remember` make the second
delivery a no-op. The keys are kept as restricted timeline entries on the practitioner, so they
need no table of their own and never show on anything the practitioner reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits.models import Visit

REQUEST_EVENT = "phone_request"
KEY_MAX = 100


@dataclass(frozen=True)
class PanicState:
    """The practitioner's own panic alarm that is not resolved yet, as the phone shows it."""

    alarm_id: int
    raised_at: datetime
    taken_by: str | None  # the name of whoever took charge, once someone has
    taken_at: datetime | None


def already_applied(practitioner: User, key: str, action: str) -> bool:
    """True when a request with this key and action was applied before (a queued retry)."""
    entries = db.session.scalars(
        sa.select(TimelineEntry).where(
            TimelineEntry.subject_type == "user",
            TimelineEntry.subject_id == practitioner.id,
            TimelineEntry.event == REQUEST_EVENT,
        )
    )
    return any(e.details.get("key") == key and e.details.get("action") == action for e in entries)


def remember(practitioner: User, key: str, action: str, *, now: datetime) -> None:
    """Record that this key's request was applied (in the same transaction as the request)."""
    timeline.record(
        "user",
        practitioner.id,
        REQUEST_EVENT,
        at=now,
        actor_id=practitioner.id,
        restricted=True,
        key=key,
        action=action,
    )


def recent_addresses(practitioner: User, *, limit: int = 5) -> list[str]:
    """The last few distinct addresses the practitioner checked in at, newest first."""
    rows = db.session.execute(
        sa.select(Visit.address, sa.func.max(Visit.checked_in_at).label("last"))
        .where(Visit.practitioner_id == practitioner.id)
        .group_by(Visit.address)
        .order_by(sa.desc("last"))
        .limit(limit)
    )
    return [row.address for row in rows]


def companions(practitioner: User) -> list[User]:
    """Who may be named as companion (the visits service's rule): the team's other active members."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.team_id == practitioner.team_id,
                User.id != practitioner.id,
                User.active,
            )
            .order_by(User.name)
        )
    )


def latest_reminder(visit: Visit) -> OutboxMessage | None:
    """The reminder text sent for the visit's current due time, if it went out."""
    if visit.reminded_at is None:
        return None
    return db.session.scalar(
        sa.select(OutboxMessage)
        .where(OutboxMessage.visit_id == visit.id, OutboxMessage.purpose == MessagePurpose.REMINDER)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )


def open_panic(practitioner: User) -> PanicState | None:
    """The practitioner's latest panic alarm still open or taken charge of (never a duress one)."""
    alarm = db.session.scalar(
        alarm_service.visible_alarms(practitioner)
        .where(
            Alarm.kind == AlarmKind.PANIC,
            Alarm.status.in_([AlarmStatus.OPEN, AlarmStatus.ACKNOWLEDGED]),
        )
        .order_by(Alarm.id.desc())
        .limit(1)
    )
    if alarm is None:
        return None
    taken_by = None
    if alarm.acknowledged_by is not None:
        manager = db.session.get(User, alarm.acknowledged_by)
        taken_by = manager.name if manager is not None else None
    return PanicState(
        alarm_id=alarm.id, raised_at=alarm.raised_at, taken_by=taken_by, taken_at=alarm.acknowledged_at
    )
