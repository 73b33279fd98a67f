"""P1: the delay from a visit's due time, and from a panic press, to the manager's text at Twilio.

    .venv/bin/python bench/escalation_latency.py                      # SQLite file in a temp dir
    .venv/bin/python bench/escalation_latency.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres --active 100000 1000000

A real `flask --app safetycheck worker` process sweeps at the default interval (5 s, `--interval`)
and sends through the twilio SDK to a local FakeTwilio, which stamps each message as it arrives.
The policy texts the worker and their team managers at the due time and managers at once on a
panic (every step `after = 0`), so each delay is what the engine adds: waking, marking the visit
overdue or taking the panic's first step, deciding the texts and sending them.

For each size in `--active`, the database first gets that many other active visits (due hours
from now, `bench/load.py`), then a fresh worker starts; `--visits` visits fall due and `--panics`
panics are pressed (through the real service, committed by this process as a web process would)
at random moments over `--spread` seconds. The visits are checked in before the worker's next
regular sweep, as a real check-in is minutes before its due time. With `--database-url`, a
scratch database is created on that PostgreSQL server and dropped after. `--worker-tree DIR`
runs the workers from another checkout (e.g. `git archive` of an older commit) for a before
figure. Figures go into docs/benchmarks.md ("P1 latency").
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

import tests.escalation.harness as harness
from bench.load import grow_load
from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.escalation import panic
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests.escalation.harness import (
    MANAGERS_AT_DUE_POLICY as POLICY,
)
from tests.escalation.harness import (
    heartbeat,
    instance_of,
    utcnow,
    wait_until,
    worker_world,
)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


class Round:
    """One size: its people, its due times and presses, and what arrived."""

    def __init__(self, app, index: int, *, visits: int, panics: int) -> None:
        self.app = app
        with app.app_context():
            now = utcnow()
            team = account_service.create_team(name=f"Measured team {index}", now=now)
            self.team_id = team.id

            def person(role: Role, n: int) -> int:
                user = account_service.create_user(
                    name=f"{role.value.title()} {index}.{n}",
                    email=f"{role.value}{index}.{n}@latency.bench",
                    phone=f"+44780{index:02d}{n:05d}",
                    role=role,
                    team_id=team.id,
                    password="bench password",
                    now=now,
                )
                return user.id

            manager = person(Role.MANAGER, 0)
            self.manager_phone = f"+44780{index:02d}{0:05d}"
            self.visit_workers = [person(Role.PRACTITIONER, 1 + i) for i in range(visits)]
            self.panic_workers = [person(Role.PRACTITIONER, 1 + visits + i) for i in range(panics)]
            db.session.commit()
            assert manager
        self.due: dict[int, datetime] = {}  # visit id -> due time
        self.pressed: dict[int, datetime] = {}  # alarm id -> moment the press reached the service

    def check_in(self, due_times: list[datetime]) -> None:
        from safetycheck.accounts.models import User

        # A check-in must end at least a minute ahead: stamp them a minute before the first due time
        # (as the harness does); the worker only reads the due times.
        checked_in = min(due_times) - timedelta(minutes=1, seconds=1)
        with self.app.app_context():
            for worker_id, due in zip(self.visit_workers, due_times, strict=True):
                worker = db.session.get(User, worker_id)
                visit = visit_service.check_in(
                    worker, address="1 Latency Lane", now=checked_in, max_minutes=720, expected_end=due
                ).visit
                self.due[visit.id] = due
            db.session.commit()

    def press_at(self, moments: list[datetime]) -> threading.Thread:
        """Press each panic at its moment, from a thread: as the web process would, then commit."""
        from safetycheck.accounts.models import User

        def run() -> None:
            for worker_id, moment in zip(self.panic_workers, moments, strict=True):
                time.sleep(max((moment - utcnow()).total_seconds(), 0))
                with self.app.app_context():
                    worker = db.session.get(User, worker_id)
                    pressed = utcnow()
                    alarm = panic.raise_panic(worker, now=pressed, message=None)
                    db.session.commit()
                    self.pressed[alarm.id] = pressed

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def _carried(self, fake) -> list[tuple[datetime, int, int | None, Any]]:
        """(arrival, alarm id, visit id, kind) for each alarm a manager text carried: one text may
        carry several alarms decided in the same sweep (bundling), each counted at its arrival."""
        arrived = {m.sid: m.received_at for m in fake.messages if m.to == self.manager_phone}
        if not arrived:
            return []
        with self.app.app_context():
            rows = db.session.execute(
                sa.select(OutboxMessage.sid, Alarm.id, Alarm.visit_id, Alarm.kind)
                .join(OutboxAlarm, OutboxAlarm.message_id == OutboxMessage.id)
                .join(Alarm, Alarm.id == OutboxAlarm.alarm_id)
                .where(OutboxMessage.sid.in_(list(arrived)))
            ).all()
            db.session.remove()
        return [(arrived[sid], alarm_id, visit_id, kind) for sid, alarm_id, visit_id, kind in rows]

    def delays(self, fake) -> tuple[list[float], list[float]]:
        """(due → text, press → text) in ms, per alarm, each through its text's outbox rows."""
        due_ms, panic_ms = [], []
        for arrival, alarm_id, visit_id, kind in self._carried(fake):
            if kind == "panic":
                panic_ms.append((arrival - self.pressed[alarm_id]).total_seconds() * 1000)
            elif visit_id in self.due:
                due_ms.append((arrival - self.due[visit_id]).total_seconds() * 1000)
        return due_ms, panic_ms

    def texts_arrived(self, fake) -> int:
        """Alarms whose manager text has arrived."""
        return len({alarm_id for _, alarm_id, _, _ in self._carried(fake)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--active", type=int, nargs="+", default=[0], help="other active visits, per round")
    parser.add_argument("--visits", type=int, default=40, help="visits falling due, per round")
    parser.add_argument("--panics", type=int, default=40, help="panics pressed, per round")
    parser.add_argument("--interval", type=float, default=5.0, help="SWEEP_INTERVAL_SECONDS (the default)")
    parser.add_argument("--spread", type=float, default=40.0, help="seconds the due times and presses span")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker-tree", type=Path, help="run the workers from this checkout")
    args = parser.parse_args()
    account_secrets.use_fast_hashing_for_tests()
    if args.worker_tree:
        harness.PROJECT_ROOT = args.worker_tree.resolve()
    rng = random.Random(args.seed)
    results = []

    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        with worker_world(args.database_url, Path(tmp), "bench_latency", POLICY, interval=args.interval) as (
            fake,
            app,
            sweepers,
        ):
            for index, size in enumerate(args.active):
                with app.app_context():
                    load_s = grow_load(size)
                measured = Round(app, index, visits=args.visits, panics=args.panics)
                worker = sweepers.start("worker", name=f"worker-{size}")
                if not wait_until(lambda w=worker: heartbeat(app, instance_of(w)) is not None, timeout=120):
                    print(sweepers.logs(), file=sys.stderr)
                    return 1
                # The worker's next regular sweep learns the due times: the first falls after it.
                start = utcnow() + timedelta(seconds=args.interval + 1.5)
                due = sorted(
                    start + timedelta(seconds=rng.uniform(0, args.spread)) for _ in range(args.visits)
                )
                presses = sorted(
                    start + timedelta(seconds=rng.uniform(0, args.spread)) for _ in range(args.panics)
                )
                measured.check_in(due)
                presser = measured.press_at(presses)
                expected = args.visits + args.panics
                deadline = args.interval + args.spread + 3 * args.interval + 30
                ok = wait_until(
                    lambda m=measured, n=expected: m.texts_arrived(fake) >= n, timeout=deadline, interval=0.1
                )
                presser.join()
                sweepers.stop(worker, signal.SIGTERM)
                if not ok:
                    print(
                        f"only {measured.texts_arrived(fake)} of {expected} alarms' manager texts arrived",
                        file=sys.stderr,
                    )
                    print(sweepers.logs(), file=sys.stderr)
                    return 1
                due_ms, panic_ms = measured.delays(fake)
                results.append((size, "due → text", due_ms, load_s))
                results.append((size, "panic → text", panic_ms, load_s))
                print(f"  {size:,} active: done", flush=True)

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{database}, sweep interval {args.interval:g} s, {args.visits} visits due and {args.panics} panics "
        f"per round over {args.spread:g} s, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("| active visits | delay | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for size, what, values, _load_s in results:
        print(
            f"| {size:,} | {what} | {len(values)} | {percentile(values, 50):.0f} "
            f"| {percentile(values, 95):.0f} | {percentile(values, 99):.0f} | {max(values):.0f} |"
        )
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.1f} s)")
    sys.exit(code)
