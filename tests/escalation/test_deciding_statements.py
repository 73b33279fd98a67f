"""Deciding a burst in few statements, without giving up a unique key.

Raising an alarm is one `INSERT … ON CONFLICT DO NOTHING RETURNING`; texts, links and recipients
of an alarm raised in the same transaction are written without look-ups or savepoints
(`escalation/in_transaction.py`), many rows to a statement. These tests pin both halves: the
statement count of a batch of overdue visits, and that every key still holds.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.engine.parts import registered_parts
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import in_transaction
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm, AlarmRecipient, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests import factories


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Statements sent to the database, by their first word and table."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if words[0] in ("INSERT", "UPDATE"):
            seen[f"{words[0]} {words[2] if words[0] == 'INSERT' else words[1]}"] += 1
        else:
            seen[words[0]] += 1

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_a_batch_of_overdue_visits_is_decided_in_a_few_statements_each(ctx, org, clock) -> None:
    """30 visits of one team fall due together: each costs its alarm's INSERT; the rest (visit
    updates, timeline entries, recipients, texts, links) is flushed many rows to a statement. It
    was 26 statements a visit, 11 of them asking about the alarm just raised."""
    workers = [factories.make_user(role=Role.PRACTITIONER, team=org.team, now=clock.now()) for _ in range(30)]
    for n, worker in enumerate(workers):
        visit_service.check_in(
            worker, address=f"{n} Burst Road", max_minutes=240, duration_minutes=30, now=clock.now()
        )
    db.session.commit()
    clock.advance(minutes=31)
    [marking] = [part for part in registered_parts() if part.name == "visits.mark_overdue"]
    with counting() as statements:
        assert marking.run(db.session, clock.now()) == 30
        db.session.commit()
    assert statements["INSERT alarms"] == 30
    # No look-up, no savepoint per visit (SQLite as PostgreSQL).
    assert statements["SELECT"] <= 12, statements
    assert statements["SAVEPOINT"] <= 2, statements
    if db.session.get_bind().dialect.name == "postgresql":  # SQLite inserts row by row
        others = sum(n for name, n in statements.items() if name != "INSERT alarms")
        assert others <= 20, statements  # per batch, not per visit
    # Every key held: one alarm a visit, each worker texted once about their own, one link and
    # one recipient row per alarm and person texted, no text without a link.
    alarms = db.session.scalars(sa.select(Alarm)).all()
    assert sorted(alarm.practitioner_id for alarm in alarms) == sorted(worker.id for worker in workers)
    links = db.session.execute(sa.select(OutboxAlarm.alarm_id, OutboxAlarm.recipient_id)).all()
    noted = db.session.execute(sa.select(AlarmRecipient.alarm_id, AlarmRecipient.user_id)).all()
    assert sorted(links) == sorted(noted)
    assert len(set(links)) == len(links)
    assert {(alarm.id, alarm.practitioner_id) for alarm in alarms} <= set(links)
    texts = db.session.scalars(sa.select(OutboxMessage)).all()
    assert {text.id for text in texts} == set(db.session.scalars(sa.select(OutboxAlarm.message_id)))


def test_an_alarm_whose_code_is_taken_draws_another_and_the_transaction_goes_on(
    ctx, org, clock, monkeypatch
) -> None:
    """Codes are unique for ever, so a drawn code can be taken; the insert then does nothing (no
    error to roll back) and a new code is drawn."""
    first = alarm_service.raise_alarm(kind=AlarmKind.PANIC, practitioner=org.practitioner, now=clock.now())
    db.session.commit()
    letters = itertools.chain(first.code, "WXYZ")  # the taken code first, then a free one
    monkeypatch.setattr(alarm_service.secrets, "choice", lambda _alphabet: next(letters))
    second = alarm_service.raise_alarm(kind=AlarmKind.PANIC, practitioner=org.manager, now=clock.now())
    db.session.commit()
    assert (second.code, second.id != first.id) == ("WXYZ", True)


def test_raising_twice_with_one_dedupe_key_returns_the_first_alarm(ctx, org, clock) -> None:
    key = f"overdue:visit:0:due:{clock.now().isoformat()}"
    first = alarm_service.raise_alarm(
        kind=AlarmKind.OVERDUE, practitioner=org.practitioner, now=clock.now(), dedupe_key=key
    )
    db.session.commit()
    again = alarm_service.raise_alarm(
        kind=AlarmKind.OVERDUE, practitioner=org.practitioner, now=clock.now(), dedupe_key=key
    )
    also = alarm_service.raise_alarm(
        kind=AlarmKind.OVERDUE, practitioner=org.practitioner, now=clock.now(), dedupe_key=key
    )
    db.session.commit()
    assert again.id == also.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alarm)) == 1


def test_what_a_transaction_raised_is_forgotten_when_it_ends(ctx, org, clock) -> None:
    alarm = alarm_service.raise_alarm(kind=AlarmKind.PANIC, practitioner=org.practitioner, now=clock.now())
    assert in_transaction.raised_here(alarm.id)
    alarm_service.note_recipient(alarm.id, org.manager.id, now=clock.now())
    alarm_service.note_recipient(alarm.id, org.manager.id, now=clock.now())  # once, though noted twice
    db.session.commit()
    assert not in_transaction.raised_here(alarm.id)
    assert alarm_service.was_texted(alarm.id, org.manager.id)
    # Known no more: the next transaction asks the database, which has the one row.
    alarm_service.note_recipient(alarm.id, org.manager.id, now=clock.now() + timedelta(minutes=1))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AlarmRecipient)) == 1


def test_team_managers_are_read_again_once_the_transaction_writes_a_user(ctx, org, clock) -> None:
    """Read once per transaction for a burst, but a transaction that changes a user (a manager
    deactivated) and then decides a step must not use what it read before."""
    before = in_transaction.team_managers(org.team.id)
    assert org.manager.id in {user.id for user in before}
    manager = db.session.get(User, org.manager.id)
    assert manager is not None
    manager.active = False
    db.session.flush()
    after = in_transaction.team_managers(org.team.id)
    assert org.manager.id not in {user.id for user in after}
    db.session.rollback()
