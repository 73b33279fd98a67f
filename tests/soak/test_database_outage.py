"""A database outage: connections cut under a running worker and service; a locked SQLite file.

PostgreSQL: every connection to the database is cut (`pg_terminate_backend`) again and again
while a real worker process sweeps and the service (the app in this process, through its test
client) answers requests. Neither is restarted: the worker's failing sweep parts roll back and
the next sweep redoes them; a pooled connection whose socket shows the cut is pinged and replaced
when checked out (`safetycheck/connection_checks.py`). At the end every step was decided once
and every text sent once (`harness.check_exactly_once`).

SQLite: another process holds the write lock beyond the busy timeout; the sweep's parts fail
with "database is locked", are rolled back and reported, and the next sweep does everything.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import policy
from safetycheck.extensions import db
from tests.escalation.harness import (
    FINITE_POLICY,
    Sweepers,
    backlog,
    check_exactly_once,
    heartbeat,
    instance_of,
    open_app,
    populate,
    scratch_database,
    twilio_config,
    utcnow,
    wait_until,
    write_policy,
)
from tests.fake_twilio import FakeTwilio

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL", "")
ON_POSTGRES = SERVER_URL.startswith(("postgres://", "postgresql"))
SETTINGS = {"OUTBOX_STALE_CLAIM_SECONDS": 1.0, "TWILIO_TIMEOUT_SECONDS": 0.5}

pytestmark = [pytest.mark.slow, pytest.mark.real_commits, pytest.mark.no_cover]


def cut_every_connection(admin: sa.Engine, database: str) -> int:
    """Terminate every other connection to the database, and return once their backends are gone.

    Waiting (the second statement: `pg_terminate_backend` with a timeout returns when the backend
    has exited) means each backend's goodbye has been sent when the next request comes, as after
    a restart. A cut landing while a request is already under way fails that request, with a ping
    or without; that is not what this test is about.
    """
    with admin.connect() as conn:
        signalled = conn.execute(
            sa.text(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        ).all()
        cut = [pid for pid, signalled_now in signalled if signalled_now]
        for pid in cut:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    return len(cut)


@pytest.mark.postgres_only
@pytest.mark.skipif(not ON_POSTGRES, reason="pg_terminate_backend needs PostgreSQL")
def test_worker_and_service_ride_out_cut_connections_and_lose_no_step(tmp_path: Path) -> None:
    policy_path = write_policy(tmp_path, FINITE_POLICY)
    rules = policy.load_policy(policy_path)
    with (
        FakeTwilio() as fake,
        scratch_database(SERVER_URL, tmp_path, "dbout") as url,
        open_app(url, policy_path, extra={**twilio_config(fake), **SETTINGS}) as app,
        Sweepers(url=url, fake=fake, policy_path=policy_path, directory=tmp_path) as sweepers,
    ):
        database = sa.engine.make_url(url).database
        assert database is not None
        admin = sa.create_engine(
            sa.engine.make_url(url).set(drivername="postgresql+psycopg", database="postgres"),
            poolclass=sa.pool.NullPool,
        )
        worker = sweepers.start("worker", name="worker")
        assert wait_until(lambda: heartbeat(app, instance_of(worker)) is not None, timeout=60), (
            sweepers.logs()
        )
        now = utcnow()
        population = populate(
            app,
            visits_due=[now + timedelta(seconds=0.5 + i * 0.25) for i in range(24)],
            panics_at=[now + timedelta(seconds=1), now + timedelta(seconds=4)],
            teams=3,
        )
        client = app.test_client()
        cuts = answers = 0
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                cuts += cut_every_connection(admin, database) > 0
                # The service answers straight after: its pooled connection is dead, its
                # socket says so, and it is replaced when checked out.
                answer = client.get("/readyz")
                assert answer.status_code in (200, 503), answer.get_data(as_text=True)
                assert answer.get_json()["checks"]["database"] == {"ok": True}
                answers += 1
                time.sleep(0.3)
        finally:
            admin.dispose()
        last_cut = utcnow()
        assert cuts >= 10, "the worker and the service were hardly ever cut off"

        assert wait_until(lambda: backlog(app).quiescent, timeout=60), (backlog(app), sweepers.logs())
        assert worker.poll() is None, "the worker died instead of riding it out:\n" + sweepers.logs()
        assert wait_until(
            lambda: (
                (beat := heartbeat(app, instance_of(worker))) is not None
                and beat.completed_at is not None
                and beat.completed_at > last_cut
            ),
            timeout=30,
        ), "the worker stopped completing sweeps"
        sweepers.stop(worker)
        time.sleep(1.1)  # a claim stranded by the last cut is stale now
        assert run_sweep(app).errors == []
        verdict = check_exactly_once(app, fake, rules=rules, population=population, exhausted=True)
        assert verdict.problems == [], "\n".join(verdict.problems)
        assert verdict.texts == len(fake.messages) > 0
        assert "OperationalError" in sweepers.logs(tail=10**7), (
            "no sweep was ever cut mid-way: proved nothing"
        )
        print(
            f"\n{cuts} cuts of every connection, {answers} answers, {verdict.texts} texts, none lost or twice"
        )


def test_a_locked_sqlite_file_makes_the_sweep_retry_not_crash(tmp_path: Path) -> None:
    policy_path = write_policy(tmp_path, FINITE_POLICY)
    rules = policy.load_policy(policy_path)
    with (
        FakeTwilio() as fake,
        scratch_database(None, tmp_path, "locked") as url,
        open_app(url, policy_path, extra={**twilio_config(fake), **SETTINGS}) as app,
    ):
        with app.app_context():
            # The service waits 10 s for a lock; a shorter wait keeps the test short.
            event.listen(
                db.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=200")
            )
            db.engine.dispose()
        now = utcnow()
        population = populate(app, visits_due=[now + timedelta(seconds=0.2)] * 3, panics_at=[now], teams=1)
        time.sleep(0.3)
        blocker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            locked = run_sweep(app)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert locked.errors, "the sweep did not notice the lock"
        assert all("OperationalError" in e for e in locked.errors), locked.errors
        assert sum(locked.done.values()) == 0, locked.done
        assert fake.messages == []

        deadline = utcnow() + timedelta(seconds=10)
        while not backlog(app).quiescent and utcnow() < deadline:
            assert run_sweep(app).errors == []
            time.sleep(0.2)
        verdict = check_exactly_once(app, fake, rules=rules, population=population, exhausted=True)
        assert verdict.problems == [], "\n".join(verdict.problems)
        assert verdict.texts == len(fake.messages) > 0
