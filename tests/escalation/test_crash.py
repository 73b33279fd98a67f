"""Crash safety: a sweep process killed with SIGKILL anywhere loses no step and decides none twice.

Each test runs the real `flask --app safetycheck sweep` (or `worker`) as a subprocess on a scratch
database, sending through the real twilio SDK to a local FakeTwilio, and kills it: at a named
crash point (`SAFETYCHECK_CRASH_POINTS`, the process SIGKILLs itself there) or at random moments.
Then clean sweeps run until nothing is left to do, and `check_exactly_once` compares the
database with what the fake received. The sweeps use the real clock, so the policy's steps are
one second apart and the stale-claim threshold is one second (OUTBOX_STALE_CLAIM_SECONDS).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import policy
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.escalation.urgency import Urgency
from safetycheck.extensions import db
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit
from tests.escalation.harness import (
    FINITE_POLICY,
    Population,
    Sweepers,
    backlog,
    check_exactly_once,
    migrated_template,
    open_app,
    populate,
    scratch_database,
    twilio_config,
    utcnow,
    wait_until,
    write_policy,
)
from tests.fake_twilio import FakeTwilio

pytestmark = [pytest.mark.slow, pytest.mark.real_commits]

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
ON_POSTGRES = bool(SERVER_URL and SERVER_URL.startswith(("postgres://", "postgresql")))
POOL = 32  # OUTBOX_SENDERS, the default the sweep processes run with
STALE_CLAIM = 1.0  # seconds; the subprocesses and the in-process sweeps use the same
TWILIO_TIMEOUT = 0.5  # must stay below the stale-claim threshold (the settings insist)


@dataclass
class World:
    app: Flask
    fake: FakeTwilio
    sweepers: Sweepers
    rules: policy.Policy
    tmp: Path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_template(SERVER_URL, tmp_path_factory.mktemp("template")) as url:
        yield url


@contextmanager
def make_world(tmp: Path, template: str) -> Iterator[World]:
    """A scratch database, a fake Twilio, the app in this process (for filling, inspecting and the
    clean sweeps) and a launcher for sweep processes: all closed again, whatever happens."""
    policy_path = write_policy(tmp, FINITE_POLICY)
    extra = {"OUTBOX_STALE_CLAIM_SECONDS": STALE_CLAIM, "TWILIO_TIMEOUT_SECONDS": TWILIO_TIMEOUT}
    with (
        FakeTwilio() as fake,
        scratch_database(SERVER_URL, tmp, "crash", template=template) as url,
        open_app(url, policy_path, extra={**twilio_config(fake), **extra}) as app,
        Sweepers(
            url=url,
            fake=fake,
            policy_path=policy_path,
            directory=tmp,
            stale_claim=STALE_CLAIM,
            twilio_timeout=TWILIO_TIMEOUT,
        ) as sweepers,
    ):
        yield World(app, fake, sweepers, policy.load_policy(policy_path), tmp)


def sweep_until_quiescent(world: World, *, timeout: float = 15.0) -> None:
    """Clean sweeps (the real `run_sweep`, in this process) until every ladder ended and every
    text went; texts stranded in `sending` wait out the stale-claim threshold first."""
    deadline = time.monotonic() + timeout
    while True:
        report = run_sweep(world.app)
        assert not report.errors, report.errors
        if backlog(world.app).quiescent:
            return
        assert time.monotonic() < deadline, f"not quiescent after {timeout}s: {backlog(world.app)}"
        time.sleep(0.1)


@dataclass(frozen=True)
class Snapshot:
    overdue_visits: int
    alarms: int
    executions: int
    outbox: Counter[str]
    received: int


def snapshot(world: World, *, routine_only: bool = False) -> Snapshot:
    """What the database and Twilio hold. `routine_only` leaves out panic and duress alarms and
    their texts: the engine decides and sends those first in every sweep (their urgent share),
    so a sweep killed later in its routine parts has rightly committed them."""
    urgent_kinds = (AlarmKind.PANIC, AlarmKind.DURESS)
    with world.app.app_context():
        try:
            overdue = db.session.scalar(
                sa.select(sa.func.count()).where(Visit.status == VisitStatus.OVERDUE).select_from(Visit)
            )
            alarm_filter = (Alarm.kind.not_in(urgent_kinds),) if routine_only else ()
            alarms, executions = db.session.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Alarm.executed_steps), 0)).where(
                    *alarm_filter
                )
            ).one()
            text_filter = (OutboxMessage.urgency != int(Urgency.PANIC),) if routine_only else ()
            outbox = Counter(
                {
                    str(status): n
                    for status, n in db.session.execute(
                        sa.select(OutboxMessage.status, sa.func.count())
                        .where(*text_filter)
                        .group_by(OutboxMessage.status)
                    )
                }
            )
            received = len(world.fake.messages)
            if routine_only:
                urgent_sids = set(
                    db.session.scalars(
                        sa.select(OutboxMessage.sid).where(
                            OutboxMessage.urgency == int(Urgency.PANIC), OutboxMessage.sid.is_not(None)
                        )
                    )
                )
                received = sum(1 for message in world.fake.messages if message.sid not in urgent_sids)
            return Snapshot(int(overdue or 0), int(alarms), int(executions), outbox, received)
        finally:
            db.session.remove()


def assert_exactly_once(world: World, population: Population, **kw: Any) -> None:
    verdict = check_exactly_once(world.app, world.fake, rules=world.rules, population=population, **kw)
    assert verdict.problems == [], "\n".join(verdict.problems) + "\n" + world.sweepers.logs()
    assert verdict.texts == len(world.fake.messages) > 0


# Each crash point, and whether visits fall due between the first (clean) sweep and the one that
# crashes. Without late visits the crashing sweep marks nothing overdue, so `after_step_decided`
# fires in the ladder part, part-way up alarms' ladders. (With late visits it would fire while
# marking them, which rolls back exactly as `before_overdue_commit` does.)
CASES = {
    "before_overdue_commit": ("before_overdue_commit", True),
    "after_step_decided": ("after_step_decided", False),
    "after_claim": ("after_claim", True),
    "before_send": ("before_send", True),
    "after_send": ("after_send", True),
}


@dataclass
class Crash:
    world: World
    population: Population
    before: Snapshot
    before_routine: Snapshot
    returncode: int | None = None
    after: Snapshot | None = None
    after_routine: Snapshot | None = None


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory, template: str) -> Iterator[dict[str, Crash]]:
    """Every case set up, swept once cleanly, then its crashing sweep process started: all at
    once, because starting a Python process costs seconds of CPU. Each test judges one case."""
    with ExitStack() as stack:
        cases: dict[str, Crash] = {}
        for case, (_, late_visits) in CASES.items():
            world = stack.enter_context(make_world(tmp_path_factory.mktemp(case), template))
            now = utcnow()
            # Long overdue (every step due at once), part-way up the ladder, at its start; the
            # late visits fall due before the crashing sweep runs. A manager gets the same words
            # at executions 2 and 3 of the visit 1.2 s overdue, in different sweeps.
            due = [now - timedelta(seconds=s) for s in (30, 1.2, 0.5)]
            if late_visits:
                due += [now + timedelta(seconds=0.6), now + timedelta(seconds=1.0)]
            population = populate(
                world.app, visits_due=due, panics_at=[now - timedelta(seconds=0.2)], teams=2
            )
            first = run_sweep(world.app)
            assert not first.errors
            assert first.done["escalation.drain_outbox"] > 0
            cases[case] = Crash(world, population, snapshot(world), snapshot(world, routine_only=True))
        # No wait: starting a sweep process takes longer than the late visits need to fall due.
        procs = {
            case: crash.world.sweepers.start("sweep", name=f"crash-{case}", crash_points=CASES[case][0])
            for case, crash in cases.items()
        }
        for case, proc in procs.items():
            crash = cases[case]
            crash.returncode = crash.world.sweepers.wait(proc, timeout=60)
            crash.after = snapshot(crash.world)
            crash.after_routine = snapshot(crash.world, routine_only=True)
        yield cases


@pytest.mark.parametrize("case", list(CASES))
def test_a_sweep_killed_at_a_crash_point_loses_nothing_and_repeats_nothing(
    crashes: dict[str, Crash], case: str
) -> None:
    crash = crashes[case]
    point = CASES[case][0]
    world, before, after = crash.world, crash.before, crash.after
    assert crash.returncode == -signal.SIGKILL, world.sweepers.logs()
    assert after is not None
    # The process died where it was told to, with its work half done.
    if point == "before_overdue_commit":
        # The sweep began with its urgent share (the panic's next repeat, decided and sent), then
        # died marking the late visits: nothing of the marking committed.
        assert crash.after_routine == crash.before_routine, "the sweep's marking must not have committed"
    elif point == "after_step_decided":
        assert after == before, "the killed sweep's transaction must not have committed"
    else:
        assert after.outbox["sending"] > 0, after  # claimed, and the claim committed
        # The point fires in the sweep's first claim: its urgent drain's at the start (when the
        # panic's next repeat is due), before any marking, or else the delivery part's, after it.
        assert crash.after_routine is not None
        in_urgent_drain = crash.after_routine.outbox["sending"] == 0
        marked = before.overdue_visits if in_urgent_drain else len(crash.population.visit_ids)
        assert after.overdue_visits == marked, after
        sent_in_crash = after.received - before.received
        if point == "after_send":
            # Dead right after its first send. On PostgreSQL the pool's other senders may each
            # have sent one text meanwhile (their next send would have hit the point too).
            assert 1 <= sent_in_crash <= (POOL if ON_POSTGRES else 1), after
        else:
            assert sent_in_crash == 0, after

    sweep_until_quiescent(world)

    assert_exactly_once(world, crash.population, exhausted=True)


@pytest.fixture
def world(tmp_path: Path, template: str) -> Iterator[World]:
    with make_world(tmp_path, template) as made:
        yield made


def test_a_worker_killed_at_random_moments_loses_nothing_and_repeats_nothing(world: World) -> None:
    """30 visits falling due over five seconds, a worker sweeping every 0.2 s SIGKILLed at a
    random moment once it is busy, restarted, killed again; then clean sweeps finish the rest."""
    seed = int(os.environ.get("SAFETYCHECK_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    now = utcnow()
    due = sorted(now + timedelta(seconds=rng.uniform(-1, 4)) for _ in range(30))
    population = populate(
        world.app, visits_due=due, panics_at=[now + timedelta(seconds=1), now + timedelta(seconds=3)], teams=3
    )
    kills = []
    for round_ in range(3):
        received = len(world.fake.messages)
        worker = world.sweepers.start("worker", name=f"worker-{round_}")
        # Busy: this incarnation has sent something. Then a random moment of its work.
        busy = wait_until(lambda n=received: len(world.fake.messages) > n, timeout=15, interval=0.02)
        assert busy or worker.poll() is None, world.sweepers.logs()
        time.sleep(delay := rng.uniform(0.0, 0.3))
        assert world.sweepers.stop(worker, signal.SIGKILL) == -signal.SIGKILL
        kills.append((round(delay, 3), len(world.fake.messages) - received, backlog(world.app)))

    sweep_until_quiescent(world)

    print(f"random kills (seed {seed}): (delay, texts sent, backlog left) {kills}")
    assert_exactly_once(world, population, exhausted=True)


def test_a_worker_stopped_with_sigterm_finishes_its_sweep_and_strands_nothing(world: World) -> None:
    """A deploy stops workers with SIGTERM: the sweep in progress completes its sends and
    records, so no text is left in `sending` for the stale-claim threshold to rescue."""
    now = utcnow()
    populate(world.app, visits_due=[now - timedelta(seconds=1)] * 20, panics_at=[], teams=2)
    worker = world.sweepers.start("worker", name="worker-sigterm")
    assert wait_until(lambda: len(world.fake.messages) > 0, timeout=15, interval=0.02), world.sweepers.logs()
    assert world.sweepers.stop(worker, signal.SIGTERM, timeout=15) == 0, world.sweepers.logs()
    with world.app.app_context():
        sending = db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sending")
        )
    assert sending == 0
    assert "worker stopped" in world.sweepers.logs()
