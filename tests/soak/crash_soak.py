"""The crash soak: three worker processes on one PostgreSQL database, killed at random, for minutes.

Real `flask --app safetycheck worker` processes sweep one scratch database on the real clock and
send through the real twilio SDK to a local FakeTwilio (the harness of tests/escalation). While
visits keep falling due and panics keep being raised, a random worker is killed with SIGKILL at
a random moment and started again at once; some restarts also arm a crash point
(`SAFETYCHECK_CRASH_POINTS`), so the process kills itself at the worst places too (after claiming,
after Twilio accepted a text and before it was recorded, before the overdue commit). Then the
killing stops, the survivors drain what is left, and the verdict is checked: every step decided
once (`harness.check_exactly_once`), every alarm reached its managers, no text sent twice, none lost.

`tests/soak/test_crash_soak.py` runs a short one in the suite; `bench/soak.py` runs the long one.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import panic, policy
from safetycheck.escalation.enums import AlarmKind, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests.escalation.harness import (
    FINITE_POLICY,
    Population,
    Sweepers,
    backlog,
    check_exactly_once,
    heartbeat,
    instance_of,
    open_app,
    scratch_database,
    twilio_config,
    utcnow,
    wait_until,
    write_policy,
)
from tests.fake_twilio import FakeTwilio
from tests.soak.forked import ForkedWorkers

STALE_CLAIM = 1.0  # seconds a claim lives before it counts as its sender's death
TWILIO_TIMEOUT = 0.5  # below the stale-claim threshold, as the settings insist
CRASH_POINTS = ("after_claim", "before_send", "after_send", "before_overdue_commit")


@dataclass
class SoakResult:
    seconds: float
    kills: int  # SIGKILLs sent by the soak, each to a worker that had begun sweeping
    self_kills: int  # restarts that died at an armed crash point
    restarts: int
    visits: int
    panics: int
    alarms: int
    steps: int  # ladder executions decided
    texts: int  # outbox rows sent
    twilio_messages: int  # messages the fake accepted
    duplicates: int  # messages beyond one per outbox row (same person, same step, twice)
    lost: int  # steps not taken, texts not sent, alarms that missed a manager
    retried: int  # texts that needed more than one attempt (a sender died, or reconciled)
    drain_seconds: float  # from the last kill until nothing was left to do
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [
            ("duration (s)", f"{self.seconds:.0f}"),
            ("kills (SIGKILL)", self.kills),
            ("self-kills at crash points", self.self_kills),
            ("worker restarts", self.restarts),
            ("visits falling due", self.visits),
            ("panics raised", self.panics),
            ("alarms", self.alarms),
            ("steps decided", self.steps),
            ("texts (outbox rows sent)", self.texts),
            ("messages Twilio accepted", self.twilio_messages),
            ("texts needing a retry", self.retried),
            ("duplicates", self.duplicates),
            ("lost", self.lost),
            ("drain after last kill (s)", f"{self.drain_seconds:.1f}"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
        return "\n".join(lines)


class Stream:
    """Teams with managers, and a new practitioner for every visit and every panic (phones unique)."""

    def __init__(self, app: Flask, *, teams: int) -> None:
        self.app = app
        self.population = Population()
        self.managers: dict[int, set[int]] = {}  # team id -> manager ids
        self._seq = 0
        with app.app_context():
            now = utcnow()
            self.team_ids = [
                account_service.create_team(name=f"Soak team {i}", now=now).id for i in range(teams)
            ]
            for team_id in self.team_ids:
                self._person(Role.MANAGER, team_id, now)
            self._person(Role.MANAGER, self.team_ids[0], now, on_call=True)
            db.session.commit()

    def _person(self, role: Role, team_id: int, now, **kw) -> User:  # type: ignore[no-untyped-def]
        self._seq += 1
        user = account_service.create_user(
            name=f"{role.value.title()} {self._seq}",
            email=f"{role.value}{self._seq}@soak.test",
            phone=f"+4474{self._seq:08d}",
            role=role,
            team_id=team_id,
            password="soak password",
            now=now,
            **kw,
        )
        self.population.phones[user.id] = user.phone
        if role == Role.MANAGER:
            self.managers.setdefault(team_id, set()).add(user.id)
        return user

    def visit(self, *, due_in: float) -> None:
        with self.app.app_context():
            now = utcnow()
            team_id = self.team_ids[self._seq % len(self.team_ids)]
            worker = self._person(Role.PRACTITIONER, team_id, now)
            checked_in = visit_service.check_in(
                worker,
                address=f"{self._seq} Soak Street",
                now=now - timedelta(minutes=1),  # a visit lasts a minute at least: checked in earlier
                max_minutes=720,
                expected_end=now + timedelta(seconds=due_in),
            )
            db.session.commit()
            self.population.visit_ids.append(checked_in.visit.id)

    def panic(self) -> None:
        with self.app.app_context():
            now = utcnow()
            team_id = self.team_ids[self._seq % len(self.team_ids)]
            worker = self._person(Role.PRACTITIONER, team_id, now)
            alarm = panic.raise_panic(worker, now=now, message="soak panic")
            db.session.commit()
            self.population.panic_alarm_ids.append(alarm.id)


def run_soak(
    *,
    server_url: str,
    directory: Path,
    seconds: float,
    workers: int = 3,
    visits_per_second: float = 2.0,
    panic_every: int = 10,
    kill_every: tuple[float, float] = (0.0, 2.0),
    min_kills: int = 0,
    max_seconds: float = 0.0,
    crash_point_share: float = 0.3,
    teams: int = 5,
    seed: int | None = None,
    forked: bool = True,
    stale_claim: float = STALE_CLAIM,
    say: Callable[[str], None] = lambda _: None,
) -> SoakResult:
    """Feed and kill for `seconds` (longer, up to `max_seconds`, until `min_kills`), then drain and judge.

    Each worker is killed at a random moment within `kill_every` seconds of its first sweep.
    `forked`: workers forked from a warm fork server (`tests/soak/forked.py`), back in
    milliseconds; otherwise `flask --app safetycheck worker` subprocesses (seconds to start).
    """
    rng = random.Random(seed)
    policy_path = write_policy(directory, FINITE_POLICY)
    rules = policy.load_policy(policy_path)
    extra = {"OUTBOX_STALE_CLAIM_SECONDS": stale_claim, "TWILIO_TIMEOUT_SECONDS": TWILIO_TIMEOUT}
    with (
        FakeTwilio() as fake,
        scratch_database(server_url, directory, "soak") as url,
        open_app(url, policy_path, extra={**twilio_config(fake), **extra}) as app,
        Sweepers(
            url=url,
            fake=fake,
            policy_path=policy_path,
            directory=directory,
            stale_claim=stale_claim,
            twilio_timeout=TWILIO_TIMEOUT,
        ) as sweepers,
        ForkedWorkers(sweepers.env, directory) as forks,
    ):

        def launch(name: str, crash_points: str = "") -> Any:
            if forked:
                return forks.start(name=name, crash_points=crash_points)
            return sweepers.start("worker", name=name, crash_points=crash_points)

        def stop(proc: Any, sig: int) -> None:
            if forked:
                proc.stop(sig)
            else:
                sweepers.stop(proc, sig)

        stream = Stream(app, teams=teams)
        armed: dict[int, str] = {}  # pid -> crash point armed in that process

        def start(slot: int) -> Any:
            point = rng.choice(CRASH_POINTS) if rng.random() < crash_point_share else ""
            proc = launch(f"w{slot}", point)
            if point:
                armed[proc.pid] = point
            return proc

        procs = [start(i) for i in range(workers)]
        kills = self_kills = restarts = made = 0
        exits: list[int] = []  # a worker that stopped by itself other than at a crash point
        death: dict[int, float] = {}  # slot -> when its worker is killed, once it sweeps
        polled: dict[int, float] = {}  # slot -> when to look for its heartbeat again
        began = time.monotonic()
        next_visit = began
        while (elapsed := time.monotonic() - began) < seconds or (
            kills < min_kills and elapsed < max_seconds
        ):
            now = time.monotonic()
            if now >= next_visit:
                made += 1
                if panic_every and made % panic_every == 0:
                    stream.panic()
                else:
                    stream.visit(due_in=rng.uniform(0.3, 3.0))
                next_visit += 1 / visits_per_second
            for slot, proc in enumerate(procs):
                if proc.poll() is not None:  # died at its armed crash point
                    if proc.returncode == -signal.SIGKILL:
                        self_kills += 1
                    else:
                        exits.append(proc.returncode)
                    procs[slot] = start(slot)
                    death.pop(slot, None)
                    restarts += 1
                elif slot not in death:
                    # A worker dies at a random moment after it has begun sweeping: a process
                    # still starting up (seconds, on a busy machine) has nothing in hand.
                    if now >= polled.get(slot, 0.0):
                        polled[slot] = now + 0.2
                        if heartbeat(app, instance_of(proc)) is not None:
                            death[slot] = now + rng.uniform(*kill_every)
                elif now >= death[slot]:
                    stop(proc, signal.SIGKILL)
                    kills += 1
                    procs[slot] = start(slot)
                    death.pop(slot)
                    restarts += 1
                    if kills % 25 == 0:
                        say(f"{elapsed:5.0f} s: {kills} kills, {made} visits and panics")
            time.sleep(0.05)
        last_kill = time.monotonic()
        # The survivors (restarted without crash points) drain what is left.
        for slot, proc in enumerate(procs):
            if proc.pid in armed or proc.poll() is not None:
                stop(proc, signal.SIGKILL)
                procs[slot] = launch(f"w{slot}-final")
        say("killing stopped; draining")
        drained = wait_until(lambda: backlog(app).quiescent, timeout=120, interval=0.2)
        drain_seconds = time.monotonic() - last_kill
        for proc in procs:
            stop(proc, signal.SIGTERM)
        time.sleep(stale_claim + 0.1)
        final = run_sweep(app)  # anything a last process left stranded
        verdict = check_exactly_once(app, fake, rules=rules, population=stream.population, exhausted=True)
        problems = list(verdict.problems) + [f"final sweep: {e}" for e in final.errors]
        problems += [f"a worker exited by itself with code {code}" for code in exits]
        tracebacks = sum(
            path.read_text(errors="replace").count("Traceback") for path in directory.glob("*.log")
        )
        if tracebacks:
            problems.append(f"{tracebacks} tracebacks in the workers' logs (see {directory})")
        if not drained:
            problems.append(f"not drained 120 s after the last kill: {backlog(app)}")
        missed = _alarms_missing_managers(app, stream.managers)
        problems += [f"alarm {a} never reached manager(s) {sorted(m)}" for a, m in missed.items()]
        with app.app_context():
            rows = list(db.session.scalars(sa.select(OutboxMessage)))
            db.session.remove()
        duplicates = _duplicates(rows, fake)
        problems += _explain_duplicates(rows, fake)
        lost = (
            sum(r.status != OutboxStatus.SENT for r in rows)
            + len(missed)
            + sum(" stopped at execution " in p or "not taken" in p or "skipped" in p for p in problems)
        )
        return SoakResult(
            seconds=elapsed,
            kills=kills,
            self_kills=self_kills,
            restarts=restarts,
            visits=len(stream.population.visit_ids),
            panics=len(stream.population.panic_alarm_ids),
            alarms=verdict.alarms,
            steps=verdict.decisions,
            texts=sum(r.status == OutboxStatus.SENT for r in rows),
            twilio_messages=len(fake.messages),
            duplicates=duplicates,
            lost=lost,
            retried=sum(r.attempts > 1 for r in rows),
            drain_seconds=drain_seconds,
            problems=problems,
        )


def _duplicates(rows: list[OutboxMessage], fake: FakeTwilio) -> int:
    """Messages Twilio accepted beyond one per row, by (number, words): the second text of a step."""
    received = Counter((m.to, m.body) for m in fake.messages)
    recorded = Counter((r.to_phone, r.body) for r in rows if r.status == OutboxStatus.SENT)
    return sum((received - recorded).values())


def _explain_duplicates(rows: list[OutboxMessage], fake: FakeTwilio) -> list[str]:
    """For each (number, words) Twilio got more often than the outbox sent it: the rows and the
    messages, with their times, so a duplicate can be traced."""
    received = Counter((m.to, m.body) for m in fake.messages)
    recorded = Counter((r.to_phone, r.body) for r in rows if r.status == OutboxStatus.SENT)
    lines = []
    for to, body in received - recorded:
        same = sorted((r for r in rows if (r.to_phone, r.body) == (to, body)), key=lambda r: r.id)
        lines.append(
            f"duplicate to {to}: rows "
            + "; ".join(
                f"#{r.id} exec {r.step_execution} created {r.created_at:%H:%M:%S.%f} "
                f"sent {r.sent_at:%H:%M:%S.%f} attempts {r.attempts} sid {r.sid}"
                for r in same
                if r.sent_at is not None
            )
            + " | messages "
            + "; ".join(
                f"{m.sid} at {m.received_at:%H:%M:%S.%f}"
                for m in fake.messages
                if (m.to, m.body) == (to, body) and m.received_at is not None
            )
        )
    return lines


def _alarms_missing_managers(app: Flask, managers: dict[int, set[int]]) -> dict[int, set[int]]:
    """Alarms some manager of the worker's team was never texted about (a sent outbox row)."""
    missing: dict[int, set[int]] = {}
    with app.app_context():
        alarms = list(db.session.scalars(sa.select(Alarm)))
        sent = Counter(
            (alarm_id, recipient_id)  # through the link rows: a bundled text carried several alarms
            for alarm_id, recipient_id in db.session.execute(
                sa.select(OutboxAlarm.alarm_id, OutboxAlarm.recipient_id)
                .join(OutboxMessage, OutboxMessage.id == OutboxAlarm.message_id)
                .where(OutboxMessage.status == OutboxStatus.SENT)
            )
        )
        for alarm in alarms:
            practitioner = db.session.get(User, alarm.practitioner_id)
            assert practitioner is not None
            assert practitioner.team_id is not None
            wanted = managers.get(practitioner.team_id, set())
            if alarm.kind not in (AlarmKind.OVERDUE, AlarmKind.PANIC):
                continue
            absent = {m for m in wanted if not sent[(alarm.id, m)]}
            if absent:
                missing[alarm.id] = absent
        db.session.remove()
    return missing
