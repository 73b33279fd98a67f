"""Two sweepers and several check-ins at once: one daily check, and admins texted once per team.

Real commits on a database of its own (PostgreSQL: the second insert of a unique day or
(team, day) waits for the first and then collides; SQLite: BEGIN IMMEDIATE serialises writers).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.clock import FrozenClock
from safetycheck.db import normalise_database_url
from safetycheck.escalation import coverage_jobs
from safetycheck.escalation.coverage_models import CoverAlert, CoverCheck, CoverGap
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests import factories

pytestmark = pytest.mark.real_commits

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SWEEPERS = 2
WORKERS = 4
ADMINS = 2


@pytest.fixture
def own_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh database of its own, dropped afterwards."""
    base = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
    admin = None
    if base and base.startswith(("postgres://", "postgresql")):
        name = f"cover_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(normalise_database_url(base), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'cover.sqlite3'}"
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


def test_two_sweepers_and_many_check_ins_alert_admins_once(own_app: Flask) -> None:
    with own_app.app_context():
        team = factories.make_team(now=START, name="Lonely Team")
        workers = [factories.make_user(now=START, team=team).id for _ in range(WORKERS)]
        for _ in range(ADMINS):
            factories.make_user(now=START, role=Role.ADMIN)

    barrier = threading.Barrier(SWEEPERS + WORKERS)
    done: list[int] = []
    warned: list[int] = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            with own_app.app_context():
                barrier.wait()
                for _ in range(3):  # and again, as the next sweeps would
                    done.append(coverage_jobs.check_cover_daily(db.session, START))
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    def worker(user_id: int) -> None:
        try:
            with own_app.app_context():
                user = db.session.get(User, user_id)
                assert user is not None
                db.session.commit()  # SQLite takes the write lock at BEGIN: never hold it at the barrier
                barrier.wait()
                result = visit_service.check_in(
                    user, address="3 Quiet Lane, Leeds", now=START, max_minutes=720, duration_minutes=30
                )
                warned.append(sum(w.get("code") == "no_cover" for w in result.visit.warnings))
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(SWEEPERS)]
    threads += [threading.Thread(target=worker, args=(user_id,)) for user_id in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    assert warned == [1] * WORKERS
    assert sorted(done) == [0] * (3 * SWEEPERS - 1) + [1]  # one sweeper checked the one team
    with own_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CoverCheck)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CoverGap)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CoverAlert)) == 1
        keys = list(
            db.session.scalars(
                sa.select(OutboxMessage.dedupe_key).where(OutboxMessage.purpose == MessagePurpose.COVERAGE)
            )
        )
    assert len(keys) == len(set(keys)) == ADMINS
