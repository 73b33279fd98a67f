"""`safetycheck demo --with-incidents`: five months of register history, added once, that sends
nothing when the demo starts (its texts and reminders are long past)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.accounts.models import User
from safetycheck.clock import FrozenClock
from safetycheck.escalation.enums import AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.incidents.models import Incident, IncidentAction, IncidentSupport
from safetycheck.reporting import summary
from safetycheck.visits.models import Visit
from tests.conftest import START


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on an empty SQLite file (the command commits for real)."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            "SCHEDULER_ENABLED": False,
            "SECRET_KEY": "demo-test",
        },
        clock=FrozenClock(START),
    )
    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    yield app
    with app.app_context():
        db.engine.dispose()


def count(model: type, *where: object) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def test_the_demo_register_is_added_once_and_sends_nothing(fresh_app) -> None:
    runner = fresh_app.test_cli_runner()
    first = runner.invoke(args=["demo", "--with-incidents"])
    assert first.exit_code == 0, first.output
    assert "demo register: 11 incidents" in first.output
    again = runner.invoke(args=["demo", "--with-incidents"])
    assert again.exit_code == 0, again.output
    assert "demo incidents not added" in again.output
    with fresh_app.app_context():
        assert count(Incident) == 11
        assert count(Visit) > 100
        assert count(Visit, Visit.checked_in_at >= START - timedelta(hours=START.hour)) == 0  # none today
        assert count(OutboxMessage, OutboxMessage.status == OutboxStatus.PENDING) == 0
        for model in (Incident, IncidentSupport, IncidentAction):
            assert count(model, model.next_reminder_at <= START) == 0, model
        assert count(Alarm) == 1  # the assault's, resolved: nothing on the board
        assert count(Alarm, Alarm.status != AlarmStatus.RESOLVED) == 0
        lead = db.session.scalar(sa.select(User).where(User.email == "lead@demo.safetycheck"))
        figures = summary.summarise(lead, period=summary.default_period(START), now=START)
        assert figures["riddor_open"], "the assault's RIDDOR deadline is open"
        assert figures["repeat_households"][0]["address"] == "14 Elm Road, Leeds LS6 2QT"
        assert figures["overdue"]["steps"] > 0
        assert figures["totals"]["rate_per_1000_visits"] is not None


def test_plain_demo_adds_no_incidents(fresh_app) -> None:
    assert fresh_app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    with fresh_app.app_context():
        assert count(Incident) == 0
