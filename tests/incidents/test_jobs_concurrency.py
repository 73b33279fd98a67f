"""Several sweepers running the incident reminders at once send each reminder exactly once.

Real commits on a database of its own (PostgreSQL: SKIP LOCKED claims; SQLite: BEGIN IMMEDIATE
serialises writers); the outbox dedupe keys are the backstop either way.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.accounts.models import User
from safetycheck.clock import FrozenClock
from safetycheck.db import normalise_database_url
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from safetycheck.incidents import jobs
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory
from tests import factories

pytestmark = pytest.mark.real_commits

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INCIDENTS = 30
SWEEPERS = 4


@pytest.fixture
def own_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh database of its own, dropped afterwards."""
    base = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
    admin = None
    if base and base.startswith(("postgres://", "postgresql")):
        name = f"incident_jobs_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(normalise_database_url(base), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "SCHEDULER_ENABLED": False, "SECRET_KEY": "x"},
        clock=FrozenClock(START),
    )
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        db.session.remove()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


def test_concurrent_sweepers_send_each_reminder_once(own_app: Flask) -> None:
    with own_app.app_context():
        org = factories.make_org(now=START)
        reporter = db.session.get(User, org.practitioner.id)
        for n in range(INCIDENTS):
            incident_service.report(
                reporter,
                occurred_at=START - timedelta(minutes=n + 1),
                category=IncidentCategory.VERBAL_ABUSE,
                description=f"Report {n}",
                near_miss=False,
                harmed=False,
                now=START,
            )
        db.session.commit()

    later = START + timedelta(hours=25)  # every acknowledgement target has passed
    barrier = threading.Barrier(SWEEPERS)
    done: list[int] = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            with own_app.app_context():
                barrier.wait()
                for _ in range(3):  # and again, as the next sweeps would
                    done.append(jobs.remind_overdue_steps(db.session, later))
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(SWEEPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    with own_app.app_context():
        keys = list(
            db.session.scalars(
                sa.select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.purpose == MessagePurpose.INCIDENT,
                    OutboxMessage.dedupe_key.contains(":remind:"),
                )
            )
        )
    managers = 2  # the team's manager and its on-call manager
    assert len(keys) == len(set(keys)) == INCIDENTS * managers
    # Only texts are counted as done; welfare checks are not due yet (72 hours).
    assert sum(done) == INCIDENTS * managers
