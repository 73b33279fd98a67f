"""P3, a burst: 1,000 alarms due at once, Twilio answering every request in 200 ms.

    .venv/bin/python bench/burst.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

A scratch database is created on that PostgreSQL server (and dropped after; without
--database-url, a SQLite file in a temporary directory). `--workers` real `flask --app
safetycheck worker` processes (1) sweep it every `--interval` seconds (0.2), each sending through
`--senders` threads (OUTBOX_SENDERS, 32) under `--max-per-second` (OUTBOX_MAX_PER_SECOND, 0: none),
through the twilio SDK to a local fake Twilio that holds every request `--latency` seconds (0.2).
Once they are sweeping, `--visits` visits (1,000), already overdue, are committed in one
transaction (ten teams with a manager each; the policy texts the worker and their team managers at
the due time: about 2.1 texts a visit). When a quarter of the texts have arrived, a practitioner
presses panic: its text to the managers must not wait behind the burst. Timed: commit to the last
text, and panic to its first text; then the exactly-once verdict of the crash tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import tomllib
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team
from safetycheck.escalation import panic, policy
from safetycheck.extensions import db
from tests.escalation.harness import MANAGERS_AT_DUE_POLICY as POLICY
from tests.escalation.harness import (
    Sweepers,
    backlog,
    check_exactly_once,
    heartbeat,
    instance_of,
    open_app,
    populate,
    scratch_database,
    utcnow,
    wait_until,
    write_policy,
)
from tests.fake_twilio import FakeTwilio


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float, float]:
    """CPU seconds the whole machine has spent busy, idle and stolen (by the hypervisor) so far."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, (idle + iowait) / tick, steal / tick


class PoolSweepers(Sweepers):
    """Worker processes with the pool's settings."""

    def __init__(self, *, senders: int, max_per_second: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.senders = senders
        self.max_per_second = max_per_second

    def env(self, **kw: Any) -> dict[str, str]:
        env = super().env(**kw)
        env["SAFETYCHECK_OUTBOX_SENDERS"] = str(self.senders)
        env["SAFETYCHECK_OUTBOX_MAX_PER_SECOND"] = str(self.max_per_second)
        return env


def raise_panic(app: Any) -> tuple[int, str, datetime]:
    """A new practitioner of the first team presses panic; returns the alarm's id, code and commit."""
    with app.app_context():
        team_id = db.session.scalar(sa.select(Team.id).order_by(Team.id).limit(1))
        worker = account_service.create_user(
            name="Panicking Practitioner",
            email="panic@bench.test",
            phone="+447499999999",
            role=Role.PRACTITIONER,
            team_id=team_id,
            password="bench password",
            now=utcnow(),
        )
        alarm = panic.raise_panic(worker, now=utcnow(), message="bench panic")
        db.session.commit()
        raised = utcnow()
        result = (alarm.id, alarm.code, raised)
        db.session.remove()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--visits", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--senders", type=int, default=32, help="OUTBOX_SENDERS (the default)")
    parser.add_argument("--max-per-second", type=float, default=0, help="OUTBOX_MAX_PER_SECOND")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake takes per request")
    parser.add_argument("--interval", type=float, default=0.2, help="SWEEP_INTERVAL_SECONDS")
    parser.add_argument("--no-panic", action="store_true", help="skip the panic during the burst")
    parser.add_argument(
        "--new-connections",
        action="store_true",
        help="the fake answers one request per connection (as in the tests); Twilio keeps them open",
    )
    parser.add_argument("--logs", action="store_true", help="print the workers' logs at the end")
    args = parser.parse_args()
    if not args.database_url and args.workers != 1:
        parser.error("SQLite supports one host: use --workers 1, or --database-url for PostgreSQL")
    account_secrets.use_fast_hashing_for_tests()

    with tempfile.TemporaryDirectory(prefix="burst-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        policy_path = write_policy(directory, POLICY)
        fake = stack.enter_context(FakeTwilio(latency=args.latency, keep_alive=not args.new_connections))
        url = stack.enter_context(scratch_database(args.database_url, directory, "bench_burst"))
        app = stack.enter_context(open_app(url, policy_path))
        sweepers = stack.enter_context(
            PoolSweepers(
                senders=args.senders,
                max_per_second=args.max_per_second,
                url=url,
                fake=fake,
                policy_path=policy_path,
                directory=directory,
                interval=args.interval,
                # A busy machine stretches a send well past its 200 ms: keep claims from going stale.
                stale_claim=10.0,
                twilio_timeout=5.0,
            )
        )
        workers = [sweepers.start("worker", name=f"worker-{i}") for i in range(args.workers)]
        if not wait_until(lambda: all(heartbeat(app, instance_of(w)) for w in workers), timeout=180):
            print(sweepers.logs(), file=sys.stderr)
            return 1
        building = time.monotonic()
        population = populate(app, visits_due=[utcnow() - timedelta(seconds=1)] * args.visits, teams=10)
        committed = utcnow()
        cpu_before = [cpu_seconds(worker.pid) for worker in workers]
        machine_before = machine_seconds()
        print(f"{args.visits} overdue visits committed ({time.monotonic() - building:.1f} s to build)")
        expected = round(2.1 * args.visits)
        panic_at: datetime | None = None
        panic_code = ""
        if not args.no_panic:
            # A quarter of the way into the first texts (bundling makes the total smaller than 2.1 a visit).
            wait_until(lambda: len(fake.messages) >= args.visits // 4, timeout=900, interval=0.05)
            alarm_id, panic_code, panic_at = raise_panic(app)
            population.panic_alarm_ids.append(alarm_id)
        finished = wait_until(
            lambda: len(fake.messages) > 0 and backlog(app).quiescent, timeout=1800, interval=0.2
        )
        worker_cpu = sum(cpu_seconds(w.pid) for w in workers) - sum(cpu_before)
        machine_after = machine_seconds()
        busy, idle, steal = (machine_after[i] - machine_before[i] for i in range(3))
        for worker in workers:
            sweepers.stop(worker, signal.SIGTERM)
        if args.logs:
            print(sweepers.logs(), file=sys.stderr)
            pressed = f"{panic_at:%H:%M:%S.%f}" if panic_at else "none"
            print(f"committed {committed:%H:%M:%S.%f}, panic {pressed}", file=sys.stderr)
        if not finished:
            print(f"only {len(fake.messages)} of about {expected} texts arrived", file=sys.stderr)
            print(sweepers.logs(), file=sys.stderr)
            return 1
        messages = [m for m in fake.messages if m.received_at is not None]
        first = min(m.received_at for m in messages if m.received_at)
        last = max(m.received_at for m in messages if m.received_at)
        panic_texts = sorted(m.received_at for m in messages if m.received_at and panic_code in m.body)
        if args.logs:
            per_second = Counter(
                int((m.received_at - committed).total_seconds()) for m in messages if m.received_at
            )
            print("texts arriving per second after the commit:", sorted(per_second.items()), file=sys.stderr)
        verdict = check_exactly_once(
            app,
            fake,
            rules=policy.parse_policy(tomllib.loads(POLICY), "benchmark policy"),
            population=population,
            exhausted=True,
        )

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    elapsed = (last - committed).total_seconds()
    database = "PostgreSQL" if args.database_url else "SQLite"
    panic_delay = (
        f"{(panic_texts[0] - panic_at).total_seconds():.2f} s" if panic_at and panic_texts else "n/a"
    )
    ceiling = f"{args.max_per_second:g}/s" if args.max_per_second else "none"
    print(
        "| database | workers | senders | ceiling | latency | visits | texts | first text | "
        "commit -> last text | texts/s | panic -> its text | exactly once | worker CPU | "
        "machine busy / idle / steal | load average |"
    )
    print("| --- |" + " ---: |" * 10 + " --- | ---: | ---: | --- |")
    print(
        f"| {database} | {args.workers} | {args.senders} | {ceiling} | {args.latency * 1000:.0f} ms | "
        f"{args.visits} | {verdict.texts} | {(first - committed).total_seconds():.2f} s | {elapsed:.1f} s | "
        f"{verdict.texts / elapsed:.0f} | {panic_delay} | "
        f"{'yes' if not verdict.problems else 'NO'} | {worker_cpu:.1f} s | "
        f"{busy:.1f} / {idle:.1f} / {steal:.1f} s | {load} ({os.cpu_count()} cores) |"
    )
    if verdict.problems:
        print("problems:", verdict.problems[:5])
    return 0 if not verdict.problems else 1


if __name__ == "__main__":
    sys.exit(main())
