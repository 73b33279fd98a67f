"""What happens on the line of an escalation call: what it says, the keypress, its progress.

Called by the signed voice webhooks (`api/twilio_voice.py`). Only a 1 pressed by a person takes
charge, as ACK by text would; a machine's tones never do. A call nobody heard (no answer, busy,
failed, voicemail) moves the ladder on at once (`ended`), if no other call of the step may still
reach someone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import sqlalchemy as sa

from safetycheck import wording
from safetycheck.accounts.models import User
from safetycheck.errors import NotFound
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import policy
from safetycheck.escalation.call_models import UNANSWERED, CallOutboxRow, CallOutcome
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline

FINAL_STATUSES = {
    "completed": None,  # decided by what happened on the line
    "busy": CallOutcome.BUSY,
    "no-answer": CallOutcome.NO_ANSWER,
    "failed": CallOutcome.FAILED,
    "canceled": CallOutcome.CANCELED,
}


def _restricted(alarm: Alarm) -> bool:
    return alarm.kind == AlarmKind.DURESS


@dataclass(frozen=True)
class CallReply:
    """What the call says next: the edge turns it into TwiML."""

    say: tuple[str, ...]
    gather: str | None = None  # a prompt inside <Gather numDigits="1">; None: hang up after saying
    after_gather: str | None = None  # said when no key is pressed


def _is_machine(answered_by: str | None) -> bool:
    return bool(answered_by) and (answered_by == "fax" or str(answered_by).startswith("machine"))


def _locked(call_id: int) -> CallOutboxRow | None:
    return db.session.get(CallOutboxRow, call_id, with_for_update=True, populate_existing=True)


def _ours(call: CallOutboxRow, call_sid: str | None) -> bool:
    """A callback about another call than the one recorded (a duplicate placement) is ignored."""
    return call.sid is None or not call_sid or call.sid == call_sid


def answer(
    call_id: int, *, call_sid: str | None, answered_by: str | None, now: datetime, tz: tzinfo
) -> CallReply | None:
    """Twilio asks what to say on an answered call; None if no such call (404)."""
    call = _locked(call_id)
    if call is None:
        return None
    alarm = db.session.get(Alarm, call.alarm_id, populate_existing=True)
    assert alarm is not None
    if answered_by and call.answered_by is None and _ours(call, call_sid):
        call.answered_by = answered_by[:30]
    if _is_machine(answered_by):
        if _ours(call, call_sid) and call.outcome is None:
            call.outcome = CallOutcome.VOICEMAIL
            timeline.record(
                "alarm",
                alarm.id,
                "call_answered",
                at=now,
                restricted=_restricted(alarm),
                call_id=call.id,
                answered_by=call.answered_by,
            )
        return CallReply(say=(wording.call_voicemail(),))
    if _ours(call, call_sid) and call.answered_at is None:
        call.answered_at = now
        timeline.record(
            "alarm",
            alarm.id,
            "call_answered",
            at=now,
            restricted=_restricted(alarm),
            call_id=call.id,
            answered_by=answered_by or "human",
        )
    over = _over(alarm, tz)
    if over is not None:
        return over
    return CallReply(
        say=(call.script,), gather=wording.CALL_PRESS_ONE, after_gather=wording.call_no_keypress()
    )


def keypress(
    call_id: int, *, call_sid: str | None, digits: str, answered_by: str | None, now: datetime, tz: tzinfo
) -> CallReply | None:
    """The person pressed a key: 1 takes charge, as ACK would; anything else does not."""
    call = _locked(call_id)
    if call is None:
        return None
    alarm = db.session.get(Alarm, call.alarm_id, populate_existing=True)
    assert alarm is not None
    if _is_machine(answered_by) or _is_machine(call.answered_by):
        return CallReply(say=(wording.call_voicemail(),))  # a machine's tones never take charge
    digits = "".join(ch for ch in digits if ch in "0123456789*#")[:1]
    if _ours(call, call_sid):
        call.digits = ((call.digits or "") + (digits or "-"))[-20:]
    timeline.record(
        "alarm",
        alarm.id,
        "call_keypress",
        at=now,
        restricted=_restricted(alarm),
        call_id=call.id,
        key="1" if digits == "1" else "other",
    )
    if digits != "1":
        over = _over(alarm, tz)
        if over is not None:
            return over
        return CallReply(
            say=(wording.call_wrong_key(),),
            gather=wording.CALL_PRESS_ONE,
            after_gather=wording.call_no_keypress(),
        )
    recipient = db.session.get(User, call.recipient_id) if call.recipient_id else None
    if recipient is not None and recipient.id == alarm.practitioner_id:
        # An overdue ladder may ring the worker; they end it by checking out, not by taking charge.
        return CallReply(say=(wording.call_to_practitioner(),))
    if recipient is None or alarm.status == AlarmStatus.RESOLVED:
        return _over(alarm, tz) or CallReply(say=(wording.call_alarm_over(),))
    try:
        result = alarm_service.acknowledge(alarm, actor=recipient, now=now, via="voice")
    except NotFound:
        return CallReply(say=(wording.call_alarm_over(),))
    if _ours(call, call_sid):
        call.outcome = CallOutcome.ACKNOWLEDGED
    taken = result.alarm
    if not result.first:
        return _over(taken, tz) or CallReply(say=(wording.call_alarm_over(),))
    worker = taken.practitioner
    return CallReply(
        say=(wording.call_taken_charge(practitioner_name=worker.name, practitioner_phone=worker.phone),)
    )


def _over(alarm: Alarm, tz: tzinfo) -> CallReply | None:
    """What to say when someone else has taken charge, or it is over; None while it is open."""
    if alarm.status == AlarmStatus.OPEN:
        return None
    if alarm.status == AlarmStatus.ACKNOWLEDGED and alarm.acknowledged_by and alarm.acknowledged_at:
        by = db.session.get(User, alarm.acknowledged_by)
        return CallReply(
            say=(
                wording.call_already_taken(
                    by_name=by.name if by else "Someone", at=alarm.acknowledged_at, tz=tz
                ),
            )
        )
    return CallReply(say=(wording.call_alarm_over(),))


def apply_call_status(
    call_id: int,
    *,
    call_sid: str | None,
    status: str,
    answered_by: str | None,
    duration: int | None,
    now: datetime,
    rules: policy.Policy,
) -> bool:
    """Record a call status callback; returns whether the call is ours. The caller commits."""
    call = _locked(call_id)
    if call is None:
        return False
    if not _ours(call, call_sid):
        return True  # a duplicate placement's events: its own row (if any) is reconciled apart
    alarm = db.session.get(Alarm, call.alarm_id)
    assert alarm is not None
    status = status.lower()
    call.provider_status = status[:20]
    call.status_updated_at = now
    if answered_by and call.answered_by is None:
        call.answered_by = answered_by[:30]
    if status == "ringing" and call.ringing_at is None:
        call.ringing_at = now
        timeline.record(
            "alarm", alarm.id, "call_ringing", at=now, restricted=_restricted(alarm), call_id=call.id
        )
    elif status in ("in-progress", "answered") and call.answered_at is None:
        call.answered_at = now
        timeline.record(
            "alarm",
            alarm.id,
            "call_answered",
            at=now,
            restricted=_restricted(alarm),
            call_id=call.id,
            answered_by=call.answered_by or "human",
        )
    elif status in FINAL_STATUSES and call.ended_at is None:
        call.ended_at = now
        call.duration_seconds = duration
        if call.outcome is None:
            call.outcome = FINAL_STATUSES[status] or _completed_outcome(call)
        ended(call, alarm, now=now, rules=rules)
    return True


def _completed_outcome(call: CallOutboxRow) -> CallOutcome:
    if _is_machine(call.answered_by):
        return CallOutcome.VOICEMAIL
    if call.digits:
        return CallOutcome.OTHER_KEY
    return CallOutcome.NO_KEYPRESS


def ended(call: CallOutboxRow, alarm: Alarm, *, now: datetime, rules: policy.Policy) -> None:
    """Record the call's end; nobody heard it, so climb the ladder at once if that is the last hope."""
    climbed = call.outcome in UNANSWERED and _climb_now(call, alarm, now=now, rules=rules)
    timeline.record(
        "alarm",
        alarm.id,
        "call_ended",
        at=now,
        restricted=_restricted(alarm),
        call_id=call.id,
        outcome=str(call.outcome),
        duration=call.duration_seconds,
        climbed=climbed,
    )


def _climb_now(call: CallOutboxRow, alarm: Alarm, *, now: datetime, rules: policy.Policy) -> bool:
    """Make the next step due now, unless another call of this step may still reach someone.

    Only climbing is sped up (as for a dead number): repeats of the last step keep their pace,
    so an unanswered phone is not rung in a loop.
    """
    alarm = db.session.get(Alarm, alarm.id, with_for_update={"of": Alarm}, populate_existing=True) or alarm
    ladder = rules.ladders.get(alarm.kind)
    if (
        ladder is None
        or alarm.status != AlarmStatus.OPEN
        or call.step_execution != alarm.executed_steps
        or alarm.executed_steps >= len(ladder.steps)
    ):
        return False
    others_live = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CallOutboxRow)
        .where(
            CallOutboxRow.alarm_id == alarm.id,
            CallOutboxRow.step_execution == call.step_execution,
            CallOutboxRow.id != call.id,
            sa.or_(
                CallOutboxRow.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                sa.and_(CallOutboxRow.status == OutboxStatus.SENT, CallOutboxRow.ended_at.is_(None)),
            ),
        )
    )
    if others_live:
        return False
    if alarm.next_step_at is None or alarm.next_step_at > now:
        alarm.next_step_at = now
    return True
