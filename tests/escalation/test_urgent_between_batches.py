"""A panic does not wait behind a backlog: the sweep decides it between the batches of any part.

Real commits on a scratch database (SQLite, or PostgreSQL with SAFETYCHECK_TEST_DATABASE_URL),
the console gateway, the real sweep. 250 visits overdue at once are marked in three batches of
100 (each deciding its ladder's first steps, which the policy has at the due time); a panic
would be decided in the next stage, after all of them, but for the urgent share of
`escalation.advance_steps`, which the engine runs between their batches.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck.accounts.models import User
from safetycheck.engine import parts
from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import outbox, panic
from safetycheck.escalation.enums import MessagePurpose, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db
from tests.escalation.harness import (
    MANAGERS_AT_DUE_POLICY,
    open_app,
    populate,
    scratch_database,
    utcnow,
    write_policy,
)

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")


@pytest.mark.slow
@pytest.mark.real_commits
def test_a_panic_is_decided_after_the_batch_in_hand_not_after_the_whole_backlog(
    tmp_path: Path,
) -> None:
    policy_path = write_policy(tmp_path, MANAGERS_AT_DUE_POLICY)
    with scratch_database(SERVER_URL, tmp_path, "urgent") as url, open_app(url, policy_path) as app:
        now = utcnow()
        population = populate(app, visits_due=[now - timedelta(seconds=1)] * 250, panics_at=[now], teams=5)
        report = run_sweep(app)
        assert not report.errors, report.errors
        assert report.done["visits.mark_overdue"] == 250
        with app.app_context():
            [panic_id] = population.panic_alarm_ids
            first_panic_text = db.session.scalar(
                sa.select(sa.func.min(OutboxAlarm.message_id)).where(OutboxAlarm.alarm_id == panic_id)
            )
            later_overdue = db.session.scalar(
                sa.select(sa.func.count(sa.distinct(OutboxAlarm.alarm_id)))
                .join(Alarm, Alarm.id == OutboxAlarm.alarm_id)
                .where(Alarm.visit_id.in_(population.visit_ids), OutboxAlarm.message_id > first_panic_text)
            )
            db.session.remove()
            db.session.remove()
        assert first_panic_text is not None, "the panic was not decided"
        # Decided after the first batch of 100: the other 150 visits' texts were queued after it.
        assert later_overdue >= 150, f"the panic waited behind {250 - later_overdue} overdue visits"


def test_a_panic_pressed_during_a_backlog_is_decided_before_its_next_batch(
    app: Flask, org: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batched part of the test's own stands for a backlog; during its first batch a panic is
    pressed (through the real service, as a web process would). Before its second batch the
    engine has decided the panic's first step and sent its texts."""
    seen: list[tuple[int, int]] = []  # (executed steps, texts sent) at each batch

    def backlog(session: Any, now: datetime) -> int:
        if len(seen) == 3:
            return 0
        if not seen:
            worker = db.session.get(User, org.practitioner.id)
            panic.raise_panic(worker, now=now, message=None)
        alarm = db.session.scalar(sa.select(Alarm).where(Alarm.practitioner_id == org.practitioner.id))
        sent = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.SENT)
        )
        seen.append((alarm.executed_steps, sent or 0))
        return 1  # a full batch of one, three times

    monkeypatch.setitem(
        parts._PARTS,
        "test.backlog",
        parts.SweepPart(
            name="test.backlog",
            run=backlog,
            stage=parts.DEADLINES,
            batch=1,
        ),
    )
    report = run_sweep(app)
    assert not report.errors, report.errors
    assert seen[0] == (0, 0)  # pressed; nothing decided yet
    executed, sent = seen[1]
    assert executed >= 1, "the panic's step waited behind the backlog"
    assert sent >= 1, "its texts waited behind the backlog"


def test_a_woken_sweep_decides_and_sends_a_panic_before_its_routine_parts(
    app: Flask, org: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A panic's commit wakes the sweep; its step is decided and its texts sent before the first
    routine part runs (the urgent shares of `escalation.advance_steps` and
    `escalation.drain_outbox`), not after eight other parts' transactions. Only panic and duress
    texts go early: a reminder queued with it waits for the delivery part."""
    with app.app_context():
        worker = db.session.get(User, org.practitioner.id)
        panic.raise_panic(worker, now=clock.now(), message=None)
        outbox.enqueue(
            dedupe_key="test:reminder",
            purpose=MessagePurpose.REMINDER,
            recipient=worker,
            body="[SafetyCheck] a reminder",
            now=clock.now(),
        )
        db.session.commit()
        db.session.remove()
    seen: list[dict[str, int]] = []

    def first_routine_part(session: Any, now: datetime) -> int:
        sent = session.execute(
            sa.select(OutboxMessage.purpose, sa.func.count())
            .where(OutboxMessage.status == OutboxStatus.SENT)
            .group_by(OutboxMessage.purpose)
        )
        seen.append({str(purpose): n for purpose, n in sent})
        return 0

    monkeypatch.setitem(
        parts._PARTS,
        "test.first",
        parts.SweepPart(name="test.first", run=first_routine_part, stage=parts.DEADLINES, order=-1),
    )
    report = run_sweep(app)
    assert not report.errors, report.errors
    [at_first_part] = seen
    assert at_first_part.get("escalation", 0) >= 2, f"the panic's texts waited: {at_first_part}"
    assert "reminder" not in at_first_part, "only panic and duress texts go before the routine parts"
    with app.app_context():
        reminder = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.dedupe_key == "test:reminder")
        )
        assert reminder is not None
        assert reminder.status == OutboxStatus.SENT  # by the delivery part, at the end
        db.session.remove()
