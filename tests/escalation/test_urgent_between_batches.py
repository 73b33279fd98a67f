"""A panic does not wait behind a backlog: the sweep decides it between the batches of any part.

Real commits on a scratch database (SQLite, or PostgreSQL with SAFETYCHECK_TEST_DATABASE_URL),
the console gateway, the real sweep. 250 visits overdue at once are marked in three batches of
100 (each deciding its ladder's first steps, which the policy has at the due time); a panic raised
before the sweep is decided in the next stage, after all of them, unless the engine runs the
urgent share of `escalation.advance_steps` between the batches.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation.models import Alarm, OutboxAlarm
from safetycheck.extensions import db
from tests.escalation.harness import (
    MANAGERS_AT_DUE_POLICY,
    open_app,
    populate,
    scratch_database,
    utcnow,
    write_policy,
)

pytestmark = [pytest.mark.slow, pytest.mark.real_commits]

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")


def test_a_panic_is_decided_after_the_batch_in_hand_not_after_the_whole_backlog(tmp_path: Path) -> None:
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
        assert first_panic_text is not None, "the panic was not decided"
        # Decided after the first batch of 100: the other 150 visits' texts were queued after it.
        assert later_overdue >= 150, f"the panic waited behind {250 - later_overdue} overdue visits"
