"""Several sweepers on one database: every step of every alarm decided once and texted once.

On PostgreSQL any number of processes may sweep at once (rows claimed `FOR UPDATE SKIP LOCKED`,
unique keys as a backstop): three real `flask --app safetycheck worker` processes sweep one
database while alarms climb a ladder that repeats every second. SQLite supports one host, where
claims are serialised by `BEGIN IMMEDIATE`: several threads, each with an app of its own (its own
engine, connections and Twilio client, as separate processes would have), sweep one file. The
verdict is the one the crash tests use (`harness.check_exactly_once`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import policy
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from tests.escalation.harness import (
    REPEATING_POLICY,
    Population,
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

# no_cover: tracing every line of four sweeping threads slows them several times over, which
# turns these timing-bound races into different tests (threads missing their deadlines).
pytestmark = [pytest.mark.slow, pytest.mark.real_commits, pytest.mark.no_cover]

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
ON_POSTGRES = bool(SERVER_URL and SERVER_URL.startswith(("postgres://", "postgresql")))
STALE_CLAIM = 1.0
TWILIO_TIMEOUT = 0.5
SETTINGS = {"OUTBOX_STALE_CLAIM_SECONDS": STALE_CLAIM, "TWILIO_TIMEOUT_SECONDS": TWILIO_TIMEOUT}


def verdict_ok(app: Flask, fake: FakeTwilio, rules: policy.Policy, population: Population, **kw) -> int:
    verdict = check_exactly_once(app, fake, rules=rules, population=population, **kw)
    assert verdict.problems == [], "\n".join(verdict.problems)
    assert verdict.texts == len(fake.messages) > 0
    return verdict.texts


@contextmanager
def sweeping_threads(apps: list[Flask], *, pause: float = 0.05) -> Iterator[list[BaseException]]:
    """Each app sweeps in a thread of its own, over and over, until the block ends."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(app: Flask) -> None:
        try:
            while not stop.is_set():
                report = run_sweep(app)
                if report.errors:
                    raise AssertionError(report.errors)
                stop.wait(pause)
        except BaseException as exc:  # reported to the test, which fails on it
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(app,), name=f"sweeper-{i}") for i, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    try:
        yield errors
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a sweeper thread did not stop"


@contextmanager
def apps_on(
    url: str, policy_path: Path, fake: FakeTwilio, count: int, **settings: Any
) -> Iterator[list[Flask]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                open_app(url, policy_path, extra={**twilio_config(fake), **SETTINGS, **settings})
            )
            for _ in range(count)
        ]


def final_sweep(app: Flask, *, after_kills: bool) -> datetime:
    """Sweep until no text is left to send (once claims left by killed processes are stale);
    returns when the last sweep started, by which time it had decided everything due.

    Usually one sweep. But the ladder repeats every second, and a drain that has sent for a
    quarter of a second gives way when a step falls due (sender_pool.drain), leaving the rest
    for the next sweep, which a worker starts at once; so may this.
    """
    if after_kills:
        time.sleep(STALE_CLAIM + 0.1)
    for _ in range(10):
        started = utcnow()
        report = run_sweep(app)
        assert not report.errors, report.errors
        if backlog(app).open_texts == 0:
            return started
    raise AssertionError(f"texts still unsent after 10 sweeps: {backlog(app)}")


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="several sweeping processes on one database need PostgreSQL (SKIP LOCKED); SQLite supports "
    "one host: see test_threads_sweeping_one_sqlite_file_decide_and_text_every_step_exactly_once",
)
def test_three_worker_processes_decide_and_text_every_step_exactly_once(tmp_path: Path) -> None:
    policy_path = write_policy(tmp_path, REPEATING_POLICY)
    rules = policy.load_policy(policy_path)
    with (
        FakeTwilio() as fake,
        scratch_database(SERVER_URL, tmp_path, "three") as url,
        apps_on(url, policy_path, fake, 1) as [app],
        Sweepers(
            url=url,
            fake=fake,
            policy_path=policy_path,
            directory=tmp_path,
            stale_claim=STALE_CLAIM,
            twilio_timeout=TWILIO_TIMEOUT,
        ) as sweepers,
    ):
        workers = [sweepers.start("worker", name=f"worker-{i}") for i in range(3)]
        up = wait_until(lambda: all(heartbeat(app, instance_of(w)) is not None for w in workers), timeout=40)
        assert up, sweepers.logs()
        now = utcnow()
        due = [now + timedelta(seconds=0.5 + i * 0.01) for i in range(50)]
        population = populate(app, visits_due=due, panics_at=[now + timedelta(seconds=0.5)] * 3, teams=5)
        time.sleep(3.5)  # executions 1..4 of every ladder fall due while the three sweep
        for worker, sig in zip(workers, (signal.SIGTERM, signal.SIGKILL, signal.SIGKILL), strict=True):
            assert worker.poll() is None, sweepers.logs()
            sweepers.stop(worker, sig)
        beats = [heartbeat(app, instance_of(w)) for w in workers]
        assert all(b is not None and b.completed_at and b.completed_at > due[-1] for b in beats)

        started = final_sweep(app, after_kills=True)

        texts = verdict_ok(app, fake, rules, population, nothing_due_at=started)
        print(f"three processes, 50 overdue visits and 3 panics over ~3.5 s: {texts} texts, none twice")


def test_threads_sweeping_one_sqlite_file_decide_and_text_every_step_exactly_once(tmp_path: Path) -> None:
    """SQLite (whatever database the suite runs on): four sweepers, one file, claims under
    BEGIN IMMEDIATE; 30 visits and 2 panics climbing a ladder that repeats every second."""
    policy_path = write_policy(tmp_path, REPEATING_POLICY)
    rules = policy.load_policy(policy_path)
    with (
        FakeTwilio() as fake,
        scratch_database(None, tmp_path, "threads") as url,
        apps_on(url, policy_path, fake, 4) as apps,
    ):
        now = utcnow()
        due = [now + timedelta(seconds=0.3 + i * 0.02) for i in range(30)]
        population = populate(apps[0], visits_due=due, panics_at=[now + timedelta(seconds=0.3)] * 2, teams=3)
        with sweeping_threads(apps) as errors:
            time.sleep(3.0)
        assert errors == []

        started = final_sweep(apps[0], after_kills=False)

        texts = verdict_ok(apps[0], fake, rules, population, nothing_due_at=started)
        print(f"four threads on one SQLite file, 30 overdue visits and 2 panics: {texts} texts, none twice")


ONE_STEP_POLICY = """
[reminder]
before = 0
[overdue]
steps = [ { after = 0, notify = ["practitioner"] } ]
[panic]
steps = [ { after = 0, notify = ["team_managers"] } ]
[duress]
steps = [ { after = 0, notify = ["team_managers"] } ]
"""


def test_a_batch_that_outlives_the_stale_claim_threshold_is_not_sent_twice(tmp_path: Path) -> None:
    """Twilio answers slowly (0.2 s a text, within the 0.5 s timeout): one lone sender's batch of
    12 takes 2.4 s to send, longer than the 1 s after which a claim counts as its sender's death.
    Another sweeper reclaims what the first has not sent yet; the first must not send it too.
    (A pool of senders claims one text each and sends it at once: `OUTBOX_SENDERS = 1` here.)"""
    policy_path = write_policy(tmp_path, ONE_STEP_POLICY)
    rules = policy.load_policy(policy_path)
    with (
        FakeTwilio() as fake,
        scratch_database(SERVER_URL, tmp_path, "slow") as url,
        apps_on(url, policy_path, fake, 2, OUTBOX_SENDERS=1) as (first, second),
    ):
        now = utcnow()
        population = populate(first, visits_due=[now + timedelta(milliseconds=100)] * 12)
        fake.accept_then_hang(12, seconds=0.2)
        time.sleep(0.2)
        with sweeping_threads([first]) as errors_first:
            assert wait_until(lambda: len(fake.messages) >= 1, timeout=10)
            with sweeping_threads([second]) as errors_second:
                assert wait_until(lambda: backlog(first).quiescent, timeout=15)
        assert errors_first == errors_second == []

        verdict_ok(first, fake, rules, population, exhausted=True)
        with first.app_context():
            taken_over = db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.attempts > 1))
            db.session.remove()
        assert taken_over, "the second sweeper never reclaimed a text: the test proved nothing"
