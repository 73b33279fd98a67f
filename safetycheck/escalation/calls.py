"""Escalation calls: phone the people of a ladder step, and act on what happens on the line.

A text can lie unread on a phone on silent; a call wakes people. A step's `call` groups are
resolved like its `notify` groups, and each person's call is written to the call outbox in the
transaction that decides the step (`place_for_step`, the ladder's one hook), then placed by the
sweep's `escalation.drain_calls` part. The call reads out what an escalation text says and asks
for 1: only that keypress takes charge (`call_line.py`). Voicemail, silence, a hang-up or another
key do not; an unanswered, busy or failed call (or voicemail) moves the ladder on at once, so the
next people are contacted now rather than after the step's delay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from safetycheck import wording
from safetycheck.engine.parts import DELIVERY, sweep_part
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import call_line, call_outbox, context, events, policy, recipients, voice_gateways
from safetycheck.escalation.call_models import CallOutboxRow, CallOutcome
from safetycheck.escalation.claim_lease import ClaimLease
from safetycheck.escalation.context import Escalation
from safetycheck.escalation.enums import AlarmKind, OutboxStatus
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.visits.models import Visit

log = logging.getLogger(__name__)

BATCH = 20
MAX_BATCHES = 20


class CallsUnrecorded(RuntimeError):
    """Some calls were placed but their outcome could not be recorded (each is logged)."""


@dataclass(frozen=True)
class CallSettings:
    gateway: voice_gateways.VoiceGateway
    public_url: str
    ring_seconds: int
    stale_claim: timedelta
    send_budget: timedelta  # see claim_lease

    def twiml_url(self, call_id: int) -> str:
        return f"{self.public_url}/twilio/voice/{call_id}"

    def status_url(self, call_id: int) -> str | None:
        return f"{self.public_url}/twilio/voice/{call_id}/status" if self.public_url else None


def settings_for(app: Flask) -> CallSettings:
    return CallSettings(
        gateway=app.extensions["safetycheck.voice"],
        public_url=str(app.config.get("PUBLIC_URL") or "").rstrip("/"),
        ring_seconds=int(app.config.get("CALL_RING_SECONDS", 30)),
        stale_claim=timedelta(seconds=app.config.get("OUTBOX_STALE_CLAIM_SECONDS", 60)),
        send_budget=context.send_budget(app),
    )


def _restricted(alarm: Alarm) -> bool:
    return alarm.kind == AlarmKind.DURESS


# --- deciding: the ladder's hook --------------------------------------------------------------


def place_for_step(
    alarm: Alarm, step: policy.Advance, *, visit: Visit | None, now: datetime, tz: tzinfo
) -> int:
    """Queue the calls of a step being decided; returns how many can be placed (reachable)."""
    if not step.call:
        return 0
    people, fell_back = recipients.resolve(alarm, step.call, now=now)
    script = _script(alarm, visit, tz)
    called: list[int] = []
    reachable = 0
    for person in people:
        if person.id == alarm.practitioner_id and alarm.kind in policy.SILENT_TO_PRACTITIONER:
            continue  # never ring the phone of a worker under threat (the policy forbids it too)
        words = script
        if person.id == alarm.practitioner_id:  # an overdue ladder may ring the worker themself
            words = wording.call_practitioner_script(
                address=visit.address if visit else None,
                due_at=visit.due_at if visit else alarm.origin_at,
                tz=tz,
            )
        call = call_outbox.enqueue(
            dedupe_key=f"alarm:{alarm.id}:exec:{step.executed}:call:{person.id}",
            recipient=person,
            alarm_id=alarm.id,
            step_execution=step.executed,
            script=words,
            now=now,
        )
        alarm_service.note_recipient(alarm.id, person.id, now=now)  # may take charge, hears the end
        if call is not None:
            called.append(person.id)
            reachable += call.next_attempt_at is not None
    if called:
        timeline.record(
            "alarm",
            alarm.id,
            "calls_decided",
            at=now,
            restricted=_restricted(alarm),
            execution=step.executed,
            called=sorted(called),
            fallback=fell_back,
        )
    return reachable


def _script(alarm: Alarm, visit: Visit | None, tz: tzinfo) -> str:
    # The same facts, chosen the same way, as the step's text (ladder._body): the newer of the
    # alarm's position and the visit's last one.
    lat, lon, located = alarm.lat, alarm.lon, alarm.raised_at if alarm.lat is not None else None
    if (
        visit is not None
        and visit.last_lat is not None
        and (located is None or (visit.last_located_at is not None and visit.last_located_at > located))
    ):
        lat, lon, located = visit.last_lat, visit.last_lon, visit.last_located_at
    address = visit.address if visit else None
    if alarm.kind == AlarmKind.INCIDENT and alarm.incident_id is not None:
        address = events.incident_address.ask(alarm.incident_id) or address
    return wording.call_script(
        kind=alarm.kind,
        code=alarm.code,
        practitioner_name=alarm.practitioner.name,
        practitioner_phone=alarm.practitioner.phone,
        address=address,
        due_at=visit.due_at if visit and alarm.kind == AlarmKind.OVERDUE else None,
        raised_at=alarm.raised_at,
        lat=lat,
        lon=lon,
        located_at=located,
        tz=tz,
    )


# --- placing: the sweep part ------------------------------------------------------------------


def _oldest_due_call(session: Any, now: datetime) -> datetime | None:
    oldest: datetime | None = session.scalar(
        sa.select(sa.func.min(CallOutboxRow.next_attempt_at)).where(
            CallOutboxRow.status == OutboxStatus.PENDING, CallOutboxRow.next_attempt_at <= now
        )
    )
    return oldest


@sweep_part("escalation.drain_calls", stage=DELIVERY, order=1, delivers=True, oldest_due=_oldest_due_call)
def drain(session: Any, now: datetime) -> int:
    """Place the calls that are due; returns how many went."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return drain_calls(context.escalation_for(app), settings_for(app))


def drain_calls(esc: Escalation, settings: CallSettings) -> int:
    """Claim and commit, place outside any transaction, record and commit (as texts are sent)."""
    placed = 0
    unrecorded: list[int] = []
    recorded_sids: set[str] = set()
    for _ in range(MAX_BATCHES):
        claimed = call_outbox.claim_batch(now=esc.now(), limit=BATCH, stale_after=settings.stale_claim)
        db.session.commit()
        for batched in claimed:
            lease = ClaimLease(batched, renew=_renew, now=esc.now, budget=settings.send_budget)
            if not lease.renew():
                continue  # our claim went stale; another sender has the call
            result = call_outbox.attempt(
                settings.gateway,
                lease.claim,
                url=settings.twiml_url(batched.id),
                status_callback=settings.status_url(batched.id),
                ring_seconds=settings.ring_seconds,
                taken_sids=recorded_sids,
                fresh=lease.fresh,
            )
            if result.lost:
                continue  # held up past the claim, which another sender has taken over
            mine = lease.claim
            try:
                call = call_outbox.record_attempt(mine, result, now=esc.now())
                if call is not None:
                    _after_attempt(call, result, esc)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("could not record the attempt for call %s", mine.id)
                unrecorded.append(mine.id)
                continue
            if call is not None and result.error is None:
                placed += 1
                assert result.sid is not None
                recorded_sids.add(result.sid)
            elif call is not None:
                log.warning("call %s to %s: %s", call.id, call.to_phone, result.error)
        if len(claimed) < BATCH:
            break
    if unrecorded:
        raise CallsUnrecorded(f"could not record calls {unrecorded}")
    return placed


def _renew(claimed: call_outbox.ClaimedCall, now: datetime) -> call_outbox.ClaimedCall | None:
    return call_outbox.renew_claim(claimed, now=now)


def _after_attempt(call: CallOutboxRow, result: call_outbox.CallAttempt, esc: Escalation) -> None:
    now = esc.now()
    alarm = db.session.get(Alarm, call.alarm_id)
    assert alarm is not None
    if call.status == OutboxStatus.SENT:
        timeline.record(
            "alarm",
            alarm.id,
            "call_placed",
            at=now,
            restricted=_restricted(alarm),
            call_id=call.id,
            to=call.recipient_id,
            reconciled=result.reconciled,
        )
    elif call.status in (OutboxStatus.UNDELIVERABLE, OutboxStatus.FAILED):
        call.outcome = CallOutcome.FAILED
        call.ended_at = now
        call_line.ended(call, alarm, now=now, rules=esc.rules)
