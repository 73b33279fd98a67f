"""The SMS outbox: texts are written in the transaction that decides them and sent afterwards.

Sending happens outside any transaction, in three moves the sweep commits separately: claim a
batch (pending → sending), talk to the gateway, record what happened. A sender that dies between
the moves leaves a row in `sending`; after `stale_after` (the OUTBOX_STALE_CLAIM_SECONDS setting,
`STALE_CLAIM` by default) it is reclaimed as outcome-unknown and
Twilio is asked whether the text went before it is sent again (Twilio has no idempotency key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from safetycheck.accounts.models import User
from safetycheck.escalation import gateways, in_transaction
from safetycheck.escalation.enums import OPEN_OUTBOX_STATUSES, AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.escalation.urgency import urgency_for
from safetycheck.extensions import db
from safetycheck.faults import crash_point

log = logging.getLogger(__name__)

_TABLE: sa.Table = OutboxMessage.__table__  # type: ignore[assignment]  # a Table, typed FromClause

MAX_ATTEMPTS = 8
STALE_CLAIM = timedelta(seconds=60)  # longer than the gateway's hard timeout
UNKNOWN_RECHECK = timedelta(seconds=5)
# Twilio's clock and ours differ a little; look back this far when asking what was sent.
RECONCILE_SLACK = timedelta(seconds=120)


def enqueue(
    *,
    dedupe_key: str,
    purpose: MessagePurpose,
    recipient: User,
    body: str,
    now: datetime,
    alarm_id: int | None = None,
    visit_id: int | None = None,
    step_execution: int | None = None,
) -> OutboxMessage | None:
    """Queue one text; None when a text with this dedupe key was already decided."""
    exists = db.session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if exists is not None:
        return None
    alarm = db.session.get(Alarm, alarm_id) if alarm_id is not None else None  # in the session already
    message = _message(
        dedupe_key=dedupe_key,
        purpose=purpose,
        recipient=recipient,
        body=body,
        now=now,
        alarm=alarm,
        visit_id=visit_id,
        step_execution=step_execution,
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        return None  # decided concurrently by another process: the unique key did its job
    return message


def enqueue_own(
    *,
    dedupe_key: str,
    purpose: MessagePurpose,
    recipient: User,
    body: str,
    now: datetime,
    alarm: Alarm,
    visit_id: int | None = None,
    step_execution: int | None = None,
) -> OutboxMessage:
    """Queue a text about an alarm this transaction raised (`in_transaction`), whose key only this
    transaction can hold: no look-up, no savepoint; written at the next flush. The caller has
    checked the key against what this transaction wrote."""
    assert in_transaction.raised_here(alarm.id)
    assert not in_transaction.key_written(dedupe_key)
    message = _message(
        dedupe_key=dedupe_key,
        purpose=purpose,
        recipient=recipient,
        body=body,
        now=now,
        alarm=alarm,
        visit_id=visit_id,
        step_execution=step_execution,
    )
    db.session.add(message)
    in_transaction.note_key(dedupe_key)
    return message


def _message(
    *,
    dedupe_key: str,
    purpose: MessagePurpose,
    recipient: User,
    body: str,
    now: datetime,
    alarm: Alarm | None,
    visit_id: int | None,
    step_execution: int | None,
) -> OutboxMessage:
    undeliverable = recipient.phone_undeliverable_at is not None
    alarm_id = alarm.id if alarm is not None else None
    return OutboxMessage(
        dedupe_key=dedupe_key,
        purpose=purpose,
        to_phone=recipient.phone,
        recipient_id=recipient.id,
        alarm_id=alarm_id,
        visit_id=visit_id,
        step_execution=step_execution,
        body=body,
        urgency=urgency_for(
            purpose,
            alarm_kind=alarm.kind if alarm is not None else None,
            to_practitioner=alarm is not None and alarm.practitioner_id == recipient.id,
        ),
        # A number Twilio has already refused is not tried again until an admin corrects it;
        # the row stays as the record that this person would have been texted.
        status=OutboxStatus.UNDELIVERABLE if undeliverable else OutboxStatus.PENDING,
        error_message=recipient.phone_undeliverable_reason if undeliverable else None,
        created_at=now,
        next_attempt_at=None if undeliverable else now,
    )


def enqueue_to_phone(
    *, dedupe_key: str, purpose: MessagePurpose, to_phone: str, body: str, now: datetime
) -> OutboxMessage | None:
    """Queue a text to a number that is not a user's (a reply to an unknown sender)."""
    if db.session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
        return None
    message = OutboxMessage(
        dedupe_key=dedupe_key,
        purpose=purpose,
        to_phone=to_phone,
        body=body,
        urgency=urgency_for(purpose),
        created_at=now,
        next_attempt_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        return None
    return message


@dataclass(frozen=True)
class Claimed:
    """A claimed text, detached from the session so it can be sent outside any transaction."""

    id: int
    to_phone: str
    body: str
    attempts: int
    outcome_unknown_since: datetime | None
    # Our claim's stamp: whoever reclaims the row restamps it, and then it is no longer ours.
    claimed_at: datetime
    # SIDs other rows already own, so reconciling never takes another text's message for this
    # one: a manager's texts for consecutive steps of one alarm can have the very same words.
    known_sids: frozenset[str] = frozenset()


def claim_batch(
    *, now: datetime, limit: int = 50, stale_after: timedelta = STALE_CLAIM, max_urgency: int | None = None
) -> list[Claimed]:
    """Claim texts that are due, reclaiming ones whose sender died; the caller commits at once.

    `max_urgency`: only texts at least this urgent (`urgency.Urgency`; a panic's alone).

    One `UPDATE … RETURNING` claims the batch (it ran as a locking `SELECT` and an ORM flush:
    a sender in a burst claims one text at a time, so the claim's statements were a third of
    what sending a text cost the worker).
    """
    table = _TABLE.c
    # Core statements (not the ORM's bulk UPDATE, whose bookkeeping was most of a claim's CPU);
    # nothing of a claimed row is held in the session. Flushed first, as the ORM would.
    db.session.flush()
    connection = db.session.connection()
    stale_ids = connection.scalars(
        sa.select(table.id)
        .where(table.status == OutboxStatus.SENDING, table.claimed_at <= now - stale_after)
        .order_by(table.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if stale_ids:
        # The sender may have reached Twilio before dying: ask before sending again.
        connection.execute(
            sa.update(_TABLE)
            .where(table.id.in_(stale_ids))
            .values(
                outcome_unknown_since=sa.func.coalesce(table.outcome_unknown_since, table.claimed_at),
                status=OutboxStatus.PENDING,
                next_attempt_at=now,
            )
        )
    # Most urgent first (a panic before reminders), then earliest due; equals (a backlog pulled
    # forward to one moment after an outage) drain oldest first.
    order = (table.urgency, table.next_attempt_at, table.created_at, table.id)
    urgent_enough = () if max_urgency is None else (table.urgency <= max_urgency,)
    due = (
        sa.select(table.id)
        .where(table.status == OutboxStatus.PENDING, table.next_attempt_at <= now, *urgent_enough)
        .order_by(*order)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(
        connection.execute(
            sa.update(_TABLE)
            .where(table.id.in_(due.scalar_subquery()))
            .values(status=OutboxStatus.SENDING, claimed_at=now, attempts=table.attempts + 1)
            .returning(
                table.id, table.to_phone, table.body, table.attempts, table.outcome_unknown_since, *order[:3]
            )
        )
    )
    # RETURNING keeps no order: sort as the claim chose.
    rows.sort(key=lambda row: (row.urgency, row.next_attempt_at, row.created_at, row.id))
    return [
        Claimed(
            row.id,
            row.to_phone,
            row.body,
            row.attempts,
            row.outcome_unknown_since,
            now,
            _sids_taken_by_others(row.id, row.to_phone, row.outcome_unknown_since)
            if row.outcome_unknown_since
            else frozenset(),
        )
        for row in rows
    ]


def claimable(
    *, now: datetime, stale_after: timedelta = STALE_CLAIM, limit: int, max_urgency: int | None = None
) -> int:
    """How many texts `claim_batch` could take now (counted up to `limit`)."""
    urgent_enough = () if max_urgency is None else (OutboxMessage.urgency <= max_urgency,)
    due = sa.or_(
        sa.and_(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now, *urgent_enough
        ),
        sa.and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_at <= now - stale_after),
    )
    found = sa.select(OutboxMessage.id).where(due).limit(limit).subquery()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(found)) or 0)


def renew_claim(claimed: Claimed, *, now: datetime) -> Claimed | None:
    """Restamp our claim just before sending; None if another sender has taken the text over.

    A batch is claimed at once but sent one text after another, so with a slow Twilio its last
    texts can outlive the stale threshold while still waiting their turn here; another sweeper
    then rightly reclaims and sends them, and this one must not send them as well. Restamped, a
    claim goes stale only if a single send outlasts the threshold, which the gateway's hard
    timeout (shorter, the settings insist) prevents. The caller commits at once.
    """
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == claimed.id,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_at == claimed.claimed_at,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return replace(claimed, claimed_at=now)


def _sids_taken_by_others(message_id: int, to_phone: str, unknown_since: datetime) -> frozenset[str]:
    """SIDs recorded on other texts to the same phone within the window reconciling looks at."""
    since = unknown_since - 2 * RECONCILE_SLACK
    return frozenset(
        db.session.scalars(
            sa.select(OutboxMessage.sid).where(
                OutboxMessage.to_phone == to_phone,
                OutboxMessage.id != message_id,
                OutboxMessage.sid.is_not(None),
                OutboxMessage.sent_at >= since,
            )
        )
    )


@dataclass(frozen=True)
class Attempt:
    """What happened when we tried a text; recorded by `record_attempt`."""

    sid: str | None = None
    provider_status: str | None = None
    error: gateways.SmsError | None = None
    attempted_at: datetime | None = None
    # The SID was found by reconciling (same number, same words), not returned by a send: it is
    # only a guess, and `record_attempt` checks that no other text may own it before adopting it.
    reconciled: bool = False
    # Not sent: the claim could no longer be kept fresh (another sender has reclaimed it).
    lost: bool = False


def attempt(
    gateway: gateways.SmsGateway,
    claimed: Claimed,
    *,
    status_callback: str | None,
    now: datetime,
    taken_sids: Collection[str] = (),
    fresh: Callable[[], bool] | None = None,
) -> Attempt:
    """Send (or first reconcile) one claimed text. Runs outside transactions; the database is
    touched only by `fresh`.

    `taken_sids`: SIDs the caller has just recorded for other texts, beyond `claimed.known_sids`.
    `fresh()`, asked just before the send, keeps the claim ours (a `ClaimLease`); when it says
    no, nothing is sent and the attempt is `lost`.
    """
    try:
        if claimed.outcome_unknown_since is not None:
            found = _already_sent(gateway, claimed, taken_sids)
            if found is not None:
                return Attempt(sid=found.sid, provider_status=found.status, attempted_at=now, reconciled=True)
        if fresh is not None and not fresh():
            return Attempt(lost=True, attempted_at=now)
        crash_point("before_send")
        sent = gateway.send(to=claimed.to_phone, body=claimed.body, status_callback=status_callback)
        crash_point("after_send")
        return Attempt(sid=sent.sid, provider_status=sent.status, attempted_at=now)
    except gateways.SmsError as exc:
        return Attempt(error=exc, attempted_at=now)


def _already_sent(
    gateway: gateways.SmsGateway, claimed: Claimed, taken_sids: Collection[str]
) -> gateways.SentSmsRecord | None:
    assert claimed.outcome_unknown_since is not None
    records = gateway.find_sent(to=claimed.to_phone, since=claimed.outcome_unknown_since - RECONCILE_SLACK)
    for record in records:
        taken = record.sid in claimed.known_sids or record.sid in taken_sids
        if record.body == claimed.body and not taken:
            return record
    return None


@dataclass(frozen=True)
class Recorded:
    message: OutboxMessage
    undeliverable: bool  # the number will never work: skip this contact now


def record_sent(claimed: Claimed, result: Attempt, *, now: datetime) -> bool:
    """Record a send Twilio accepted, in one guarded `UPDATE`; False if the text was reclaimed
    meanwhile (another sender's record then stands). The caller commits.

    The common case of `record_attempt`, which locks and reloads the row, looks for a row that
    adopted this SID by reconciling and writes in a savepoint: six statements a text in a burst
    for what is nearly always one. When a row does hold the SID, the unique index refuses this
    `UPDATE` (`IntegrityError`): the caller rolls back and records through `record_attempt`.
    Only for a fresh transaction: the error aborts it.
    """
    assert result.error is None
    assert result.sid is not None
    assert not result.reconciled
    table = _TABLE.c
    updated = db.session.connection().execute(
        sa.update(_TABLE)
        .where(
            table.id == claimed.id,
            table.status == OutboxStatus.SENDING,
            table.claimed_at == claimed.claimed_at,
        )
        .values(
            status=OutboxStatus.SENT,
            sid=result.sid,
            provider_status=result.provider_status,
            sent_at=now,
            outcome_unknown_since=None,
            next_attempt_at=None,
            error_code=None,
            error_message=None,
        )
    )
    if updated.rowcount != 1:
        return False
    if claimed.attempts > 1:
        _gateway_is_back(now)
    return True


def record_attempt(claimed: Claimed, result: Attempt, *, now: datetime) -> Recorded | None:
    """Store the outcome of an attempt; the caller commits."""
    message = db.session.get(OutboxMessage, claimed.id, with_for_update=True, populate_existing=True)
    if message is None or message.status != OutboxStatus.SENDING or message.claimed_at != claimed.claimed_at:
        return None  # reclaimed by another sender after we went stale; theirs is the record now
    error = result.error
    if error is None:
        assert result.sid is not None
        if result.reconciled and not _may_adopt(message, result.sid):
            _defer_reconcile(message, now=now)
            return None
        for last_try in (False, True):
            if not result.reconciled:
                _take_back(result.sid, keep=message.id, now=now)
            try:
                with db.session.begin_nested():
                    _mark_sent(message, result, now=now)
                    db.session.flush()
                break
            except IntegrityError:
                # Another process recorded the same SID between our check and our write.
                message = db.session.get(OutboxMessage, claimed.id, populate_existing=True)
                assert message is not None
                if result.reconciled:
                    _defer_reconcile(message, now=now)
                    return None
                if last_try:
                    raise
        if claimed.attempts > 1:
            _gateway_is_back(now)
        return Recorded(message, undeliverable=False)
    message.error_code = error.code
    message.error_message = (error.detail or type(error).__name__)[:300]
    if isinstance(error, gateways.SmsUndeliverable):
        message.status = OutboxStatus.UNDELIVERABLE
        message.next_attempt_at = None
        return Recorded(message, undeliverable=True)
    if isinstance(error, gateways.SmsOutcomeUnknown):
        message.outcome_unknown_since = message.outcome_unknown_since or result.attempted_at or now
        delay = UNKNOWN_RECHECK
    else:
        retry_after = getattr(error, "retry_after", None)
        delay = timedelta(seconds=retry_after) if retry_after else backoff(message.attempts)
    if message.attempts >= MAX_ATTEMPTS and not gateways.is_outage(error):
        message.status = OutboxStatus.FAILED
        message.next_attempt_at = None
        log.error(
            "giving up on text %s to %s after %s attempts", message.id, message.to_phone, message.attempts
        )
    else:
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = now + delay
    return Recorded(message, undeliverable=False)


def _gateway_is_back(now: datetime) -> None:
    """A text that had failed went through: the texts waiting out their back-off after failures
    go now, and the claims take them oldest first. Rate-limited ones keep their Retry-After."""
    db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at > now,
            OutboxMessage.attempts > 0,
            sa.or_(OutboxMessage.error_code.is_(None), OutboxMessage.error_code != 20429),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def _mark_sent(message: OutboxMessage, result: Attempt, *, now: datetime) -> None:
    message.status = OutboxStatus.SENT
    message.sid = result.sid
    message.provider_status = result.provider_status
    message.sent_at = now
    message.outcome_unknown_since = None
    message.next_attempt_at = None
    message.error_code = None
    message.error_message = None


def _may_adopt(message: OutboxMessage, sid: str) -> bool:
    """Whether a message found by reconciling can only be this text's.

    Not if another row has recorded it, nor while another text with the same number and words
    is being sent for the first time: that send may be the message found, and its sender is
    about to record it. (Texts whose outcome is unknown too are interchangeable: whichever takes
    the message, the other finds it taken and is sent.)
    """
    taken = db.session.scalar(
        sa.select(OutboxMessage.id).where(OutboxMessage.sid == sid, OutboxMessage.id != message.id)
    )
    if taken is not None:
        return False
    in_flight = db.session.scalar(
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.id != message.id,
            OutboxMessage.to_phone == message.to_phone,
            OutboxMessage.body == message.body,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.outcome_unknown_since.is_(None),
        )
        .limit(1)
    )
    return in_flight is None


def _defer_reconcile(message: OutboxMessage, *, now: datetime) -> None:
    """Leave the text outcome-unknown and look again soon; a deferral is not a failed attempt."""
    message.status = OutboxStatus.PENDING
    message.outcome_unknown_since = message.outcome_unknown_since or now
    message.attempts = max(message.attempts - 1, 0)
    message.next_attempt_at = now + UNKNOWN_RECHECK
    log.info("text %s: the message found by reconciling may be another text's; looking again", message.id)


def _take_back(sid: str, *, keep: int, now: datetime) -> None:
    """A SID a send returned is this text's for certain: a row that adopted it by reconciling
    (before `_may_adopt` could see the sender) goes back to outcome-unknown and looks again."""
    holder = db.session.scalar(
        sa.select(OutboxMessage).where(OutboxMessage.sid == sid, OutboxMessage.id != keep).with_for_update()
    )
    if holder is None:
        return
    log.warning("text %s had adopted SID %s of text %s; reconciling it again", holder.id, sid, keep)
    holder.status = OutboxStatus.PENDING
    holder.sid = None
    holder.provider_status = None
    holder.sent_at = None
    holder.outcome_unknown_since = holder.created_at  # its first attempt may be long before its last
    holder.next_attempt_at = now
    db.session.flush()


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 2 minutes: an escalation text that is late is nearly useless."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 120))


def cancel_pending_for_alarm(
    alarm_id: int, *, purposes: tuple[MessagePurpose, ...] = (MessagePurpose.ESCALATION,)
) -> int:
    """Stop escalation texts not yet sent once a person has taken charge.

    A bundled text (escalation/bundling.py) is stopped only once none of its alarms is open.
    """
    carried = sa.select(OutboxAlarm.message_id).where(OutboxAlarm.alarm_id == alarm_id)
    still_needed = (
        sa.select(OutboxAlarm.id)
        .join(Alarm, Alarm.id == OutboxAlarm.alarm_id)
        .where(
            OutboxAlarm.message_id == OutboxMessage.id,
            OutboxAlarm.alarm_id != alarm_id,
            Alarm.status == AlarmStatus.OPEN,
        )
        .correlate(OutboxMessage)
        .exists()
    )
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            sa.or_(OutboxMessage.alarm_id == alarm_id, OutboxMessage.id.in_(carried)),
            ~still_needed,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.purpose.in_(purposes),
        )
        .values(status=OutboxStatus.CANCELLED, next_attempt_at=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def apply_delivery_status(*, sid: str, status: str, error_code: int | None, now: datetime) -> Recorded | None:
    """Record a Twilio status callback; undelivered to a dead number means: skip that contact."""
    message = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.sid == sid).with_for_update())
    if message is None:
        return None
    message.provider_status = status
    message.status_updated_at = now
    verdict = gateways.classify_delivery_status(status, error_code)
    if error_code is not None:
        message.error_code = error_code
    if verdict == "ok" and status == "delivered":
        message.status = OutboxStatus.DELIVERED
    elif verdict == "undeliverable":
        message.status = OutboxStatus.UNDELIVERABLE
        return Recorded(message, undeliverable=True)
    elif verdict == "retry" and message.attempts < 2:
        # Carrier hiccup (30001/30008): worth one more try; a new send gets a new SID.
        message.status = OutboxStatus.PENDING
        message.sid = None
        message.next_attempt_at = now
    elif verdict in ("retry", "failed"):
        message.status = OutboxStatus.FAILED
    return Recorded(message, undeliverable=False)


def depth() -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_(OPEN_OUTBOX_STATUSES))
        )
        or 0
    )
