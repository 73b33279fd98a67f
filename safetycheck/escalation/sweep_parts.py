"""Escalation's parts of the sweep: advance due alarm steps, and deliver the outbox.

Registered with the engine (`safetycheck/engine/parts.py`): steps run after the visits' deadlines
and before the other domains' periodic work; delivery runs last, and between the batches of a
backlog, so the first texts leave in seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.engine.parts import DELIVERY, ESCALATION, sweep_part
from safetycheck.escalation import bundling, context, gateways, ladder, outbox, sender_pool
from safetycheck.escalation.context import Escalation
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.escalation.urgency import Urgency
from safetycheck.extensions import db

log = logging.getLogger(__name__)

BATCH = 100
URGENT_KINDS = (AlarmKind.PANIC, AlarmKind.DURESS)
# Twilio refusals that mean the number itself is wrong; 30003 (handset off) only skips for now.
FLAG_CODES = frozenset(gateways.UNDELIVERABLE_CODES | {30004, 30005, 30006})


class RecordingFailed(RuntimeError):
    """Some texts went but their outcome could not be recorded (each is logged); the rest went on."""


def _oldest_due_step(session: Any, now: datetime) -> datetime | None:
    oldest: datetime | None = session.scalar(
        sa.select(sa.func.min(Alarm.next_step_at)).where(
            Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at <= now
        )
    )
    return oldest


def _oldest_due_text(session: Any, now: datetime) -> datetime | None:
    oldest: datetime | None = session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now
        )
    )
    return oldest


def _next_step(session: Any, since: datetime) -> datetime | None:
    """The next ladder step of an open alarm (a repeat, the next rung): the engine wakes for it."""
    moment: datetime | None = session.scalar(
        sa.select(sa.func.min(Alarm.next_step_at)).where(
            Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at > since
        )
    )
    return moment


def _next_text(session: Any, since: datetime) -> datetime | None:
    """The next retry of a pending text (after a Twilio error or a throttle)."""
    moment: datetime | None = session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at > since
        )
    )
    return moment


def advance_urgent_steps(session: Any, now: datetime) -> int:
    """Only panic and duress steps: the engine runs this between other parts' batches too."""
    return advance_due_alarms(context.current(), now, only_urgent=True)


@sweep_part(
    "escalation.advance_steps",
    stage=ESCALATION,
    batch=BATCH,
    oldest_due=_oldest_due_step,
    next_due=_next_step,
    urgent=advance_urgent_steps,
)
def advance_steps(session: Any, now: datetime) -> int:
    """Open alarms whose next step is due advance one step, texts written in the same transaction."""
    return advance_due_alarms(context.current(), now)


def advance_due_alarms(esc: Escalation, now: datetime, *, only_urgent: bool = False) -> int:
    kinds = (Alarm.kind.in_(URGENT_KINDS),) if only_urgent else ()
    due = db.session.scalars(
        sa.select(Alarm)
        .where(Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at <= now, *kinds)
        # Panic and duress first, as their texts are claimed first: one pressed during a burst of
        # a thousand overdue alarms must not wait for all of them to be decided.
        .order_by(sa.case((Alarm.kind.in_(URGENT_KINDS), 0), else_=1), Alarm.next_step_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Alarm)
    ).all()
    with bundling.same_batch():  # one text per person for the alarms decided here
        for alarm in due:
            ladder.advance_alarm(alarm, rules=esc.rules, now=now, tz=esc.tz)
    return len(due)


def drain_urgent(session: Any, now: datetime) -> int:
    """Send only panic and duress texts: the engine runs this at the start of every sweep and
    between other parts' batches, right after their steps are decided (`advance_urgent_steps`),
    so a panic's text does not wait for the routine parts, nor for a backlog's batches."""
    result = sender_pool.drain(
        context.current(),
        decision_due=lambda: False,
        on_undeliverable=_skip_contact,
        max_urgency=Urgency.PANIC,
    )
    if result.unrecorded:
        raise RecordingFailed(f"could not record texts {result.unrecorded}")
    return result.sent


@sweep_part(
    "escalation.drain_outbox",
    stage=DELIVERY,
    delivers=True,
    oldest_due=_oldest_due_text,
    next_due=_next_text,
    urgent=drain_urgent,
)
def drain(session: Any, now: datetime) -> int:
    """Send what is due; returns how many texts went."""
    return drain_outbox(context.current())


def drain_outbox(esc: Escalation) -> int:
    """Send what is due through the sender pool (`sender_pool.py`); returns how many texts went."""
    result = sender_pool.drain(esc, decision_due=lambda: _step_waiting(esc), on_undeliverable=_skip_contact)
    if result.unrecorded:
        raise RecordingFailed(f"could not record texts {result.unrecorded}")
    return result.sent


def _step_waiting(esc: Escalation) -> bool:
    """Whether an alarm step is due: the pool then gives the sweep back to decide it first."""
    try:
        return _oldest_due_step(db.session, esc.now()) is not None
    finally:
        db.session.commit()  # hold no lock (SQLite's write lock) while the senders work


def apply_delivery_status(esc: Escalation, *, sid: str, status: str, error_code: int | None) -> bool:
    """A Twilio status callback; returns whether the SID was ours. The caller commits."""
    recorded = outbox.apply_delivery_status(sid=sid, status=status, error_code=error_code, now=esc.now())
    if recorded is None:
        return False
    if recorded.undeliverable:
        _skip_contact(recorded.message, esc)
    return True


def _skip_contact(message: OutboxMessage, esc: Escalation) -> None:
    now = esc.now()
    if message.recipient_id is not None and (message.error_code in FLAG_CODES):
        user = db.session.get(User, message.recipient_id)
        if user is not None and user.phone == message.to_phone and user.phone_undeliverable_at is None:
            user.phone_undeliverable_at = now
            user.phone_undeliverable_reason = (
                f"Twilio error {message.error_code}: {message.error_message or ''}"
            )[:200]
            log.error(
                "phone of user %s is undeliverable (%s); flagged for an admin", user.id, message.error_code
            )
    for alarm_id in bundling.alarms_carried(message):  # every alarm a bundle carried
        ladder.skip_dead_contact(alarm_id, now=now, rules=esc.rules)
