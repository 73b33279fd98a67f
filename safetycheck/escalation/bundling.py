"""Bundling: the alarms one person is texted about in the same sweep batch go as one text.

A burst (a hundred visits overdue at once after an outage, a team's alarms all climbing to the
same on-call contact) would otherwise send one manager a text per alarm. Inside `same_batch()`
(the sweep's `advance_due_alarms`) the ladder hands each step's text to `queue_step_text`, which
decides it (dedupe, whether the person is reachable) at once but writes it when the batch ends:
texts to the same person are then combined, most urgent alarm first, into one outbox row per
`max_alarms` alarms (and at most `MAX_BODY` characters), each alarm on its own line with its own
`ACK <code>`. A person with one alarm in the batch gets exactly today's text.

Nothing waits for a bundle: only texts decided in the same batch, in the same transaction, are
combined, so every text is written when it would have been. A bundle is one outbox row (so the
sender's urgency order sees it once, as its most urgent alarm: `alarm_id` is that alarm's) and one
`sms_outbox_alarms` row per alarm it carried; a single alarm's text has one link row too. The
link rows are what the board, the alarm page, the stand-down and taken-charge notices and the
dead-number handling read, so a bundle's delivery status lands on every alarm it carried, and
their unique key keeps "one text per alarm, execution and person" true across processes.

Texts to the worker themselves (the overdue step that asks them to reply OK) are never bundled:
they carry no ACK code, and a worker has one visit at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from safetycheck import wording as texts
from safetycheck.accounts.models import User
from safetycheck.escalation import in_transaction, outbox
from safetycheck.escalation.enums import REACHED_STATUSES, AlarmKind, AlarmStatus, MessagePurpose
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db

log = logging.getLogger(__name__)

DEFAULT_MAX_ALARMS = 10
# Twilio refuses a body longer than 1,600 characters (about 10 GSM-7 segments of 153).
MAX_BODY = 1600
# Most urgent first in a bundle, and the bundle's row is its first alarm's: someone may be under
# attack in a panic or duress, an overdue check-out is more often a forgotten one.
KIND_ORDER = {AlarmKind.DURESS: 0, AlarmKind.PANIC: 0, AlarmKind.OVERDUE: 1, AlarmKind.INCIDENT: 2}


@dataclass(frozen=True)
class Queued:
    """A step's text to one person, decided (its row may be written when the batch ends)."""

    reachable: bool  # the person's number is not flagged undeliverable


@dataclass(frozen=True)
class _Decided:
    alarm: Alarm
    person: User
    execution: int
    body: str  # the text if it goes alone: exactly today's
    line: str  # its line in a bundle
    now: datetime

    @property
    def dedupe_key(self) -> str:
        return step_dedupe_key(self.alarm.id, self.execution, self.person.id)

    def order(self) -> tuple[int, datetime, int]:
        return (KIND_ORDER.get(self.alarm.kind, 3), self.alarm.origin_at, self.alarm.id)


@dataclass
class _Batch:
    max_alarms: int
    by_person: dict[int, list[_Decided]] = field(default_factory=dict)


_batch: ContextVar[_Batch | None] = ContextVar("safetycheck_bundling_batch", default=None)
# A batch that lasts until the session's transaction commits (`until_commit`).
_SESSION_KEY = "safetycheck.bundling"


def step_dedupe_key(alarm_id: int, execution: int, user_id: int) -> str:
    """The outbox key of one step's text to one person (a bundle's row has its first alarm's)."""
    return f"alarm:{alarm_id}:exec:{execution}:user:{user_id}"


def configured_max_alarms() -> int:
    if not has_app_context():
        return DEFAULT_MAX_ALARMS
    return int(current_app.config.get("ESCALATION_BUNDLE_MAX_ALARMS", DEFAULT_MAX_ALARMS))


@contextmanager
def same_batch(max_alarms: int | None = None) -> Iterator[None]:
    """Texts decided inside are combined per person when it ends (still in the caller's transaction).

    On an exception nothing is written: the caller's transaction rolls back the steps too.
    """
    batch = _Batch(max_alarms=max(1, max_alarms if max_alarms is not None else configured_max_alarms()))
    token = _batch.set(batch)
    try:
        yield
        _write(batch)
    finally:
        _batch.reset(token)


def until_commit() -> None:
    """Texts decided from now until the current transaction commits are combined at its commit.

    For steps taken where no one call spans the batch: the overdue alarms `visits.mark_overdue`
    raises, one event per visit, in one transaction. Written by `before_commit`, so they become
    visible exactly when they would have; a rollback forgets them with the steps.
    """
    if _batch.get() is not None:
        return  # an explicit batch is open and takes them
    info = db.session().info
    if _SESSION_KEY not in info:
        info[_SESSION_KEY] = _Batch(max_alarms=max(1, configured_max_alarms()))


def install() -> None:
    """Write `until_commit` batches at commit, forget them on rollback (once per process)."""
    if not sa.event.contains(Session, "before_commit", _write_at_commit):
        sa.event.listen(Session, "before_commit", _write_at_commit)
        sa.event.listen(Session, "after_transaction_end", _forget)


def _write_at_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released (SQLAlchemy calls this for those too): not the commit
    batch = session.info.pop(_SESSION_KEY, None)
    if batch is not None:
        _write(batch)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_SESSION_KEY, None)


def queue_step_text(
    *,
    alarm: Alarm,
    person: User,
    execution: int,
    body: str,
    line: Callable[[], str],
    now: datetime,
) -> Queued | None:
    """Decide one step's text to one person; None when it was already decided (the dedupe key).

    Outside `same_batch()` (or to the worker themselves) it is written at once, as a single text.
    """
    if _already_decided(alarm.id, execution, person.id):
        return None
    batch = _batch.get() or db.session().info.get(_SESSION_KEY)
    if batch is None or person.id == alarm.practitioner_id:
        alone = _Decided(alarm, person, execution, body, body, now)
        return Queued(reachable=_reachable(person)) if _write_single(alone) is not None else None
    batch.by_person.setdefault(person.id, []).append(_Decided(alarm, person, execution, body, line(), now))
    return Queued(reachable=_reachable(person))


def _reachable(person: User) -> bool:
    return person.phone_undeliverable_at is None


def _already_decided(alarm_id: int, execution: int, user_id: int) -> bool:
    key = step_dedupe_key(alarm_id, execution, user_id)
    if in_transaction.raised_here(alarm_id):  # only this transaction can have decided it
        return in_transaction.key_written(key) or in_transaction.link_written(alarm_id, execution, user_id)
    in_outbox = db.session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
    if in_outbox is not None:
        return True
    linked = db.session.scalar(
        sa.select(OutboxAlarm.id).where(
            OutboxAlarm.alarm_id == alarm_id,
            OutboxAlarm.step_execution == execution,
            OutboxAlarm.recipient_id == user_id,
        )
    )
    return linked is not None


def _write(batch: _Batch) -> None:
    for decided in batch.by_person.values():
        decided.sort(key=_Decided.order)
        for chunk in _chunks(decided, batch.max_alarms):
            if len(chunk) == 1:
                _write_single(chunk[0])
            elif _write_bundle(chunk) is None:
                # A member was decided meanwhile by another process (the unique keys said so):
                # write the others one by one, each with its own key, as if never bundled.
                for one in chunk:
                    _write_single(one)


def _chunks(decided: list[_Decided], max_alarms: int) -> Iterator[list[_Decided]]:
    """Consecutive runs of at most `max_alarms` alarms whose bundled text fits in `MAX_BODY`."""
    chunk: list[_Decided] = []
    for one in decided:
        if chunk and (len(chunk) >= max_alarms or len(_bundle_body([*chunk, one])) > MAX_BODY):
            yield chunk
            chunk = []
        chunk.append(one)
    if chunk:
        yield chunk


def _bundle_body(chunk: list[_Decided]) -> str:
    return texts.escalation_bundle([one.line for one in chunk])


def _write_single(decided: _Decided) -> OutboxMessage | None:
    return _insert([decided], decided.body)


def _write_bundle(chunk: list[_Decided]) -> OutboxMessage | None:
    return _insert(chunk, _bundle_body(chunk))


class _Taken(Exception):
    """The row's key was decided meanwhile: undo the savepoint."""


def _insert(members: list[_Decided], body: str) -> OutboxMessage | None:
    """One outbox row for these decisions and a link row each, all or nothing (a savepoint)."""
    lead = members[0]
    if all(in_transaction.raised_here(one.alarm.id) for one in members):
        return _insert_own(members, body)
    try:
        with db.session.begin_nested():
            message = outbox.enqueue(
                dedupe_key=lead.dedupe_key,
                purpose=MessagePurpose.ESCALATION,
                recipient=lead.person,
                body=body,
                now=lead.now,
                alarm_id=lead.alarm.id,
                visit_id=lead.alarm.visit_id,
                step_execution=lead.execution,
            )
            if message is None:
                raise _Taken
            db.session.add_all(
                OutboxAlarm(
                    message_id=message.id,
                    alarm_id=one.alarm.id,
                    step_execution=one.execution,
                    recipient_id=one.person.id,
                    position=position,
                )
                for position, one in enumerate(members)
            )
            db.session.flush()
    except (_Taken, IntegrityError):
        return None
    _log_bundle(members)
    return message


def _insert_own(members: list[_Decided], body: str) -> OutboxMessage | None:
    """As `_insert`, for alarms this transaction raised: no other transaction can hold their keys,
    so no look-up and no savepoint; the rows are flushed with the transaction's next flush."""
    lead = members[0]
    if any(_already_decided(one.alarm.id, one.execution, one.person.id) for one in members):
        return None  # this transaction decided it already (`_already_decided` asked its memory)
    message = outbox.enqueue_own(
        dedupe_key=lead.dedupe_key,
        purpose=MessagePurpose.ESCALATION,
        recipient=lead.person,
        body=body,
        now=lead.now,
        alarm=lead.alarm,
        visit_id=lead.alarm.visit_id,
        step_execution=lead.execution,
    )
    for position, one in enumerate(members):
        db.session.add(
            OutboxAlarm(
                message=message,
                alarm_id=one.alarm.id,
                step_execution=one.execution,
                recipient_id=one.person.id,
                position=position,
            )
        )
        in_transaction.note_link(one.alarm.id, one.execution, one.person.id)
    _log_bundle(members)
    return message


def _log_bundle(members: list[_Decided]) -> None:
    if len(members) > 1:
        log.info(
            "one text to user %s carries %s alarms: %s",
            members[0].person.id,
            len(members),
            [one.alarm.id for one in members],
        )


# Reading: which texts carried an alarm, which alarms a text carried -------------------------


def carrying(alarm_id: int, execution: int | None = None) -> sa.Select[int]:
    """Ids of the texts that carried this alarm (for this ladder execution), as a subquery."""
    query = sa.select(OutboxAlarm.message_id).where(OutboxAlarm.alarm_id == alarm_id)
    if execution is not None:
        query = query.where(OutboxAlarm.step_execution == execution)
    return query


def texts_for(alarm_id: int) -> sa.ColumnElement[bool]:
    """Outbox rows about this alarm: its own (notices, rows written before links existed) and
    every text that carried it, alone or bundled."""
    return sa.or_(OutboxMessage.alarm_id == alarm_id, OutboxMessage.id.in_(carrying(alarm_id)))


def alarms_carried(message: OutboxMessage) -> list[int]:
    """The alarms a text carried, in the order it listed them (its own alarm if it has no links)."""
    ids = list(
        db.session.scalars(
            sa.select(OutboxAlarm.alarm_id)
            .where(OutboxAlarm.message_id == message.id)
            .order_by(OutboxAlarm.position, OutboxAlarm.id)
        )
    )
    if not ids and message.alarm_id is not None:
        ids = [message.alarm_id]
    return ids


def carried_counts(message_ids: list[int]) -> dict[int, int]:
    """How many alarms each of these texts carried (1 for a single alarm's, absent for notices)."""
    if not message_ids:
        return {}
    rows = db.session.execute(
        sa.select(OutboxAlarm.message_id, sa.func.count())
        .where(OutboxAlarm.message_id.in_(message_ids))
        .group_by(OutboxAlarm.message_id)
    )
    return {message_id: int(n) for message_id, n in rows}


@dataclass(frozen=True)
class LastText:
    """The alarms the person's latest escalation text listed, and those still open."""

    listed: int
    open_alarms: list[Alarm]


def last_text(user_id: int) -> LastText | None:
    """What the newest escalation text that reached this person carried (None: none reached them).

    Reached means sent, or being sent, or of unknown outcome: the text they may be answering.
    """
    latest = db.session.scalar(
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.recipient_id == user_id,
            OutboxMessage.purpose == MessagePurpose.ESCALATION,
            sa.or_(
                OutboxMessage.status.in_(REACHED_STATUSES),
                OutboxMessage.outcome_unknown_since.is_not(None),
            ),
        )
        .order_by(
            sa.func.coalesce(
                OutboxMessage.sent_at, OutboxMessage.claimed_at, OutboxMessage.created_at
            ).desc(),
            OutboxMessage.id.desc(),
        )
        .limit(1)
    )
    if latest is None:
        return None
    carried = list(
        db.session.execute(
            sa.select(Alarm, OutboxAlarm.position)
            .join(OutboxAlarm, OutboxAlarm.alarm_id == Alarm.id)
            .where(OutboxAlarm.message_id == latest)
            .order_by(OutboxAlarm.position, OutboxAlarm.id)
        )
    )
    return LastText(
        listed=len(carried),
        open_alarms=[alarm for alarm, _ in carried if alarm.status == AlarmStatus.OPEN],
    )
