"""The sweep: find due work with indexed queries, act on it, send the texts.

Every part claims its rows with `FOR UPDATE SKIP LOCKED` (on SQLite the write lock taken at
BEGIN serialises claims instead) and commits in small transactions, so any number of processes
can sweep at once, each deadline is acted on exactly once, and a process killed at any point
leaves nothing half-done: what it had not committed is done by the next sweep.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from safetycheck.accounts.models import User
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import gateways, ladder, outbox, policy, texts
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose
from safetycheck.escalation.models import Alarm, OutboxMessage, SweepHeartbeat
from safetycheck.extensions import db
from safetycheck.faults import crash_point
from safetycheck.jobs import registered_tasks
from safetycheck.timeline import service as timeline
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit

log = logging.getLogger(__name__)

BATCH = 100
MAX_BATCHES = 50  # per part and sweep: a backlog after an outage drains within a few sweeps
# Twilio refusals that mean the number itself is wrong; 30003 (handset off) only skips for now.
FLAG_CODES = frozenset(gateways.UNDELIVERABLE_CODES | {30004, 30005, 30006})

INSTANCE = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Escalation:
    """What a sweep needs from the app, gathered once."""

    rules: policy.Policy
    tz: ZoneInfo
    gateway: gateways.SmsGateway
    status_callback: str | None
    now: Callable[[], datetime]
    # How long a text may stay claimed ("sending") before it counts as its sender's death.
    stale_claim: timedelta = outbox.STALE_CLAIM


@dataclass
class SweepReport:
    overdue: int = 0
    reminders: int = 0
    steps: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0


def escalation_for(app: Flask) -> Escalation:
    public = app.config.get("PUBLIC_URL") or ""
    return Escalation(
        rules=app.extensions["safetycheck.policy"],
        tz=ZoneInfo(app.config.get("DISPLAY_TIMEZONE", "Europe/London")),
        gateway=app.extensions["safetycheck.sms"],
        status_callback=f"{public}/twilio/status" if public else None,
        now=app.extensions["safetycheck.clock"].now,
        stale_claim=timedelta(seconds=app.config.get("OUTBOX_STALE_CLAIM_SECONDS", 60)),
    )


def run_sweep(app: Flask) -> SweepReport:
    """One full sweep; each part commits on its own so one failure does not block the texts."""
    report = SweepReport()
    started = time.perf_counter()
    with app.app_context():
        esc = escalation_for(app)
        begun = esc.now()
        _beat(begun, completed=False)
        parts: list[tuple[str, Callable[[], Any]]] = [
            ("overdue", lambda: _repeat(lambda: mark_overdue_visits(esc, esc.now()), esc, report, "overdue")),
            ("reminders", lambda: _repeat(lambda: send_reminders(esc, esc.now()), esc, report, "reminders")),
            ("steps", lambda: _repeat(lambda: advance_due_alarms(esc, esc.now()), esc, report, "steps")),
        ]
        for name, task in registered_tasks().items():
            parts.append((name, _task_part(name, task, esc, report)))
        parts.append(("outbox", lambda: drain_outbox(esc, report)))
        for name, part in parts:
            try:
                part()
            except Exception as exc:  # one broken part must not stop the others
                db.session.rollback()
                log.exception("sweep part %s failed", name)
                report.errors.append(f"{name}: {type(exc).__name__}")
        report.duration_ms = (time.perf_counter() - started) * 1000
        _beat(
            esc.now(), completed=True, duration_ms=report.duration_ms, error="; ".join(report.errors) or None
        )
    return report


def _repeat(claim_and_act: Callable[[], int], esc: Escalation, report: SweepReport, attr: str) -> None:
    for _ in range(MAX_BATCHES):
        done = claim_and_act()
        db.session.commit()
        setattr(report, attr, getattr(report, attr) + done)
        if done < BATCH:
            return
        # A backlog (after an outage): send what this batch decided before deciding the next,
        # so the first texts leave in seconds rather than after the whole backlog.
        drain_outbox(esc, report)


def _task_part(
    name: str, task: Callable[[datetime], int], esc: Escalation, report: SweepReport
) -> Callable[[], None]:
    """A registered task as a sweep part, bound to this `name` and `task` (not the loop's last)."""

    def part() -> None:
        report.tasks[name] = _run_task(task, esc)

    return part


def _run_task(task: Callable[[datetime], int], esc: Escalation) -> int:
    done = task(esc.now())
    db.session.commit()
    return done


def mark_overdue_visits(esc: Escalation, now: datetime) -> int:
    """Active visits past due become overdue, each with an overdue alarm whose first step is taken now."""
    visits = db.session.scalars(
        sa.select(Visit)
        .where(Visit.status == VisitStatus.ACTIVE, Visit.due_at <= now)
        .order_by(Visit.due_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Visit)
    ).all()
    for visit in visits:
        visit.status = VisitStatus.OVERDUE
        practitioner = db.session.get(User, visit.practitioner_id)
        assert practitioner is not None
        alarm = alarm_service.raise_alarm(
            kind=AlarmKind.OVERDUE,
            practitioner=practitioner,
            now=now,
            visit_id=visit.id,
            origin_at=visit.due_at,
            dedupe_key=f"overdue:visit:{visit.id}:due:{visit.due_at.isoformat()}",
        )
        timeline.record("visit", visit.id, "overdue", at=now, alarm_id=alarm.id)
        ladder.advance_alarm(alarm, rules=esc.rules, now=now, tz=esc.tz)
    crash_point("before_overdue_commit")
    return len(visits)


def send_reminders(esc: Escalation, now: datetime) -> int:
    """Text the worker a few minutes before due, once per due time, so a forgotten check-out is caught."""
    before = timedelta(seconds=esc.rules.reminder_before_seconds)
    if not before:
        return 0
    visits = db.session.scalars(
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
        practitioner = db.session.get(User, visit.practitioner_id)
        assert practitioner is not None
        outbox.enqueue(
            dedupe_key=f"reminder:visit:{visit.id}:due:{visit.due_at.isoformat()}",
            purpose=MessagePurpose.REMINDER,
            recipient=practitioner,
            body=texts.reminder(address=visit.address, due_at=visit.due_at, tz=esc.tz),
            now=now,
            visit_id=visit.id,
        )
    return len(visits)


def advance_due_alarms(esc: Escalation, now: datetime) -> int:
    """Open alarms whose next step is due advance one step, texts written in the same transaction."""
    due = db.session.scalars(
        sa.select(Alarm)
        .where(Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at <= now)
        .order_by(Alarm.next_step_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Alarm)
    ).all()
    for alarm in due:
        ladder.advance_alarm(alarm, rules=esc.rules, now=now, tz=esc.tz)
    return len(due)


def drain_outbox(esc: Escalation, report: SweepReport) -> None:
    """Send what is due: claim and commit, send outside any transaction, record and commit."""
    recorded_sids: set[str] = set()  # reconciling must not match a text to another's message
    for _ in range(MAX_BATCHES):
        claimed = outbox.claim_batch(now=esc.now(), limit=50, stale_after=esc.stale_claim)
        db.session.commit()
        crash_point("after_claim")
        for batched in claimed:
            message = outbox.renew_claim(batched, now=esc.now())
            db.session.commit()
            if message is None:
                continue  # our claim went stale while the batch was sending; another sender has it
            result = outbox.attempt(
                esc.gateway,
                message,
                status_callback=esc.status_callback,
                now=esc.now(),
                taken_sids=recorded_sids,
            )
            try:
                recorded = outbox.record_attempt(message, result, now=esc.now())
                if recorded is not None and recorded.undeliverable:
                    _skip_contact(recorded.message, esc)
                db.session.commit()
                if recorded is not None and result.sid:
                    recorded_sids.add(result.sid)
            except Exception as exc:
                db.session.rollback()
                log.exception("could not record the attempt for text %s", message.id)
                report.errors.append(f"outbox: recording text {message.id}: {type(exc).__name__}")
                continue
            if recorded is None:
                continue  # reclaimed meanwhile, or a reconcile that must look again: nothing done
            if result.error is None:
                report.sent += 1
            else:
                report.failed += 1
                log.warning("text %s to %s: %s", message.id, message.to_phone, result.error)
        if len(claimed) < 50:
            return


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
                f"Twilio error {message.error_code}: {message.error_message or ''}"[:200]
            )
            log.error(
                "phone of user %s is undeliverable (%s); flagged for an admin", user.id, message.error_code
            )
    if message.alarm_id is not None:
        ladder.skip_dead_contact(message.alarm_id, now=now, rules=esc.rules)


def _beat(
    now: datetime, *, completed: bool, duration_ms: float | None = None, error: str | None = None
) -> None:
    try:
        beat = db.session.get(SweepHeartbeat, INSTANCE)
        if beat is None:
            beat = SweepHeartbeat(instance=INSTANCE, started_at=now)
            db.session.add(beat)
        if completed:
            beat.completed_at = now
            beat.duration_ms = duration_ms
            beat.error = error[:300] if error else None
        else:
            beat.started_at = now
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not write the sweep heartbeat")
