"""The call outbox: calls are written in the transaction that decides the step, placed afterwards.

The same three moves as the text outbox (`outbox.py`), committed separately by the drain: claim
(pending → sending), talk to the gateway, record. A placement whose answer was lost (a timeout, a
dropped connection, a sender that died while the call was `sending`) is outcome-unknown: Twilio's
Calls list is asked before calling again, because Twilio has no idempotency key for calls either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from safetycheck.accounts.models import User
from safetycheck.escalation import gateways, outbox, voice_gateways
from safetycheck.escalation.call_models import CallOutboxRow
from safetycheck.escalation.enums import AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.faults import crash_point

log = logging.getLogger(__name__)

MAX_ATTEMPTS = outbox.MAX_ATTEMPTS
UNKNOWN_RECHECK = outbox.UNKNOWN_RECHECK
RECONCILE_SLACK = outbox.RECONCILE_SLACK


def enqueue(
    *, dedupe_key: str, recipient: User, alarm_id: int, step_execution: int, script: str, now: datetime
) -> CallOutboxRow | None:
    """Queue one call; None when a call with this dedupe key was already decided."""
    if db.session.scalar(sa.select(CallOutboxRow.id).where(CallOutboxRow.dedupe_key == dedupe_key)):
        return None
    undeliverable = recipient.phone_undeliverable_at is not None
    call = CallOutboxRow(
        dedupe_key=dedupe_key,
        to_phone=recipient.phone,
        recipient_id=recipient.id,
        alarm_id=alarm_id,
        step_execution=step_execution,
        script=script,
        # A number Twilio refused is not tried until an admin corrects it (as for texts).
        status=OutboxStatus.UNDELIVERABLE if undeliverable else OutboxStatus.PENDING,
        error_message=recipient.phone_undeliverable_reason if undeliverable else None,
        created_at=now,
        next_attempt_at=None if undeliverable else now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(call)
            db.session.flush()
    except IntegrityError:
        return None  # decided concurrently by another process
    return call


@dataclass(frozen=True)
class ClaimedCall:
    """A claimed call, detached from the session so it can be placed outside any transaction."""

    id: int
    to_phone: str
    script: str
    attempts: int
    outcome_unknown_since: datetime | None
    claimed_at: datetime  # our claim's stamp; a reclaim restamps it
    known_sids: frozenset[str] = frozenset()  # SIDs other calls own: never adopt one of those


def claim_batch(*, now: datetime, limit: int, stale_after: timedelta) -> list[ClaimedCall]:
    """Claim calls that are due, reclaiming ones whose sender died; the caller commits at once."""
    stale = db.session.scalars(
        sa.select(CallOutboxRow)
        .where(CallOutboxRow.status == OutboxStatus.SENDING, CallOutboxRow.claimed_at <= now - stale_after)
        .order_by(CallOutboxRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for call in stale:
        call.outcome_unknown_since = call.outcome_unknown_since or call.claimed_at
        call.status = OutboxStatus.PENDING
        call.next_attempt_at = now
    rows = db.session.scalars(
        sa.select(CallOutboxRow)
        .where(CallOutboxRow.status == OutboxStatus.PENDING, CallOutboxRow.next_attempt_at <= now)
        .order_by(CallOutboxRow.created_at, CallOutboxRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    over = _alarms_no_longer_open({call.alarm_id for call in rows})
    claimed = []
    for call in rows:
        if call.alarm_id in over:
            # Someone took charge (or it ended) after the step was decided: nobody needs waking.
            call.status = OutboxStatus.CANCELLED
            call.next_attempt_at = None
            continue
        call.status = OutboxStatus.SENDING
        call.claimed_at = now
        call.attempts += 1
        claimed.append(
            ClaimedCall(
                call.id,
                call.to_phone,
                call.script,
                call.attempts,
                call.outcome_unknown_since,
                now,
                _sids_taken_by_others(call) if call.outcome_unknown_since else frozenset(),
            )
        )
    db.session.flush()
    return claimed


def _alarms_no_longer_open(alarm_ids: set[int]) -> set[int]:
    if not alarm_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(Alarm.id).where(Alarm.id.in_(alarm_ids), Alarm.status != AlarmStatus.OPEN)
        )
    )


def renew_claim(claimed: ClaimedCall, *, now: datetime) -> ClaimedCall | None:
    """Restamp our claim just before placing; None if another sender has taken the call over."""
    result = db.session.execute(
        sa.update(CallOutboxRow)
        .where(
            CallOutboxRow.id == claimed.id,
            CallOutboxRow.status == OutboxStatus.SENDING,
            CallOutboxRow.claimed_at == claimed.claimed_at,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return replace(claimed, claimed_at=now)


def _sids_taken_by_others(call: CallOutboxRow) -> frozenset[str]:
    assert call.outcome_unknown_since is not None
    since = call.outcome_unknown_since - 2 * RECONCILE_SLACK
    return frozenset(
        db.session.scalars(
            sa.select(CallOutboxRow.sid).where(
                CallOutboxRow.to_phone == call.to_phone,
                CallOutboxRow.id != call.id,
                CallOutboxRow.sid.is_not(None),
                CallOutboxRow.sent_at >= since,
            )
        )
    )


@dataclass(frozen=True)
class CallAttempt:
    """What happened when we tried to place a call; recorded by `record_attempt`."""

    sid: str | None = None
    provider_status: str | None = None
    error: gateways.SmsError | None = None
    reconciled: bool = False  # found in Twilio's list, not returned by a placement: a guess
    lost: bool = False  # not placed: the claim could not be kept fresh (see claim_lease)


def attempt(
    gateway: voice_gateways.VoiceGateway,
    claimed: ClaimedCall,
    *,
    url: str,
    status_callback: str | None,
    ring_seconds: int,
    taken_sids: frozenset[str] | set[str] = frozenset(),
    fresh: Callable[[], bool] | None = None,
) -> CallAttempt:
    """Place (or first look for) one claimed call. Runs outside transactions; only `fresh` (a
    `ClaimLease`, asked just before placing) touches the database."""
    try:
        if claimed.outcome_unknown_since is not None:
            since = claimed.outcome_unknown_since - RECONCILE_SLACK
            for record in gateway.find_placed(to=claimed.to_phone, since=since):
                if record.sid not in claimed.known_sids and record.sid not in taken_sids:
                    return CallAttempt(sid=record.sid, provider_status=record.status, reconciled=True)
        if fresh is not None and not fresh():
            return CallAttempt(lost=True)
        crash_point("before_call")
        placed = gateway.place(
            to=claimed.to_phone,
            url=url,
            status_callback=status_callback,
            script=claimed.script,
            ring_seconds=ring_seconds,
        )
        crash_point("after_call")
        return CallAttempt(sid=placed.sid, provider_status=placed.status)
    except gateways.SmsError as exc:
        return CallAttempt(error=exc)


def record_attempt(claimed: ClaimedCall, result: CallAttempt, *, now: datetime) -> CallOutboxRow | None:
    """Store the outcome of an attempt; None if the claim is no longer ours. The caller commits."""
    call = db.session.get(CallOutboxRow, claimed.id, with_for_update=True, populate_existing=True)
    if call is None or call.status != OutboxStatus.SENDING or call.claimed_at != claimed.claimed_at:
        return None
    error = result.error
    if error is None:
        assert result.sid is not None
        if result.reconciled and not _may_adopt(call, result.sid):
            _defer(call, now=now)
            return None
        try:
            with db.session.begin_nested():
                call.status = OutboxStatus.SENT
                call.sid = result.sid
                call.provider_status = call.provider_status or result.provider_status
                call.sent_at = now
                call.outcome_unknown_since = None
                call.next_attempt_at = None
                call.error_code = None
                call.error_message = None
                db.session.flush()
        except IntegrityError:
            # Another row recorded this SID between our check and our write.
            refreshed = db.session.get(CallOutboxRow, claimed.id, populate_existing=True)
            assert refreshed is not None
            if not result.reconciled:
                raise
            _defer(refreshed, now=now)
            return None
        return call
    call.error_code = error.code
    call.error_message = (error.detail or type(error).__name__)[:300]
    if isinstance(error, gateways.SmsUndeliverable):
        call.status = OutboxStatus.UNDELIVERABLE
        call.next_attempt_at = None
        return call
    if isinstance(error, gateways.SmsOutcomeUnknown):
        call.outcome_unknown_since = call.outcome_unknown_since or now
        delay = UNKNOWN_RECHECK
    else:
        retry_after = getattr(error, "retry_after", None)
        delay = timedelta(seconds=retry_after) if retry_after else outbox.backoff(call.attempts)
    if call.attempts >= MAX_ATTEMPTS and not gateways.is_outage(error):
        call.status = OutboxStatus.FAILED
        call.next_attempt_at = None
        log.error("giving up on call %s to %s after %s attempts", call.id, call.to_phone, call.attempts)
    else:
        call.status = OutboxStatus.PENDING
        call.next_attempt_at = now + delay
    return call


def _may_adopt(call: CallOutboxRow, sid: str) -> bool:
    """A call found in the list is this one's only if no other row owns it and no other call to
    the same number is being placed for the first time (that one may be the call found)."""
    if db.session.scalar(
        sa.select(CallOutboxRow.id).where(CallOutboxRow.sid == sid, CallOutboxRow.id != call.id)
    ):
        return False
    in_flight = db.session.scalar(
        sa.select(CallOutboxRow.id)
        .where(
            CallOutboxRow.id != call.id,
            CallOutboxRow.to_phone == call.to_phone,
            CallOutboxRow.status == OutboxStatus.SENDING,
            CallOutboxRow.outcome_unknown_since.is_(None),
        )
        .limit(1)
    )
    return in_flight is None


def _defer(call: CallOutboxRow, *, now: datetime) -> None:
    """Stay outcome-unknown and look again soon; a deferral does not use up an attempt."""
    call.status = OutboxStatus.PENDING
    call.outcome_unknown_since = call.outcome_unknown_since or now
    call.attempts = max(call.attempts - 1, 0)
    call.next_attempt_at = now + UNKNOWN_RECHECK


def cancel_pending_for_alarm(alarm_id: int) -> int:
    """Calls not yet placed are not needed once someone has taken charge or it is over."""
    result = db.session.execute(
        sa.update(CallOutboxRow)
        .where(CallOutboxRow.alarm_id == alarm_id, CallOutboxRow.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def calls_of(alarm_id: int) -> list[CallOutboxRow]:
    """Every call decided for an alarm, oldest first (for its page and the register)."""
    return list(
        db.session.scalars(
            sa.select(CallOutboxRow).where(CallOutboxRow.alarm_id == alarm_id).order_by(CallOutboxRow.id)
        )
    )
