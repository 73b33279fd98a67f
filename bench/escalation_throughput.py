"""Time how long several worker processes take to escalate a backlog of overdue visits.

    createdb -h 127.0.0.1 -U postgres bench_escalation   # any database on the server will do
    .venv/bin/python bench/escalation_throughput.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/bench_escalation --workers 3

A scratch database is created on that PostgreSQL server (and dropped after). `--workers` real
`flask --app safetycheck worker` processes (3) sweep it every `--interval` seconds (0.2) and send
through the twilio SDK to a local FakeTwilio. Once all of them are sweeping, `--visits` visits
(1,000), already overdue, are committed in one transaction, each with its own practitioner, in
ten teams with a manager each. The policy texts the worker and their team managers at the due
time, so each visit means an overdue mark, an alarm, one ladder decision and two texts (three in
the team of the on-call manager, who is a manager there too). The clock runs from that commit to
the last text reaching the fake; then the exactly-once verdict of the crash tests is checked.
SQLite (no --database-url) supports one host: there it runs with one worker only.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import tomllib
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck.accounts import secrets as account_secrets
from safetycheck.escalation import policy
from tests.escalation.harness import (
    MANAGERS_AT_DUE_POLICY as POLICY,
)
from tests.escalation.harness import (
    backlog,
    check_exactly_once,
    heartbeat,
    instance_of,
    populate,
    utcnow,
    wait_until,
    worker_world,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--visits", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.2, help="SWEEP_INTERVAL_SECONDS")
    args = parser.parse_args()
    if not args.database_url and args.workers != 1:
        parser.error("SQLite supports one host: use --workers 1, or --database-url for PostgreSQL")
    account_secrets.use_fast_hashing_for_tests()

    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        with worker_world(
            args.database_url, Path(tmp), "bench_throughput", POLICY, interval=args.interval
        ) as (fake, app, sweepers):
            workers = [sweepers.start("worker", name=f"worker-{i}") for i in range(args.workers)]
            up = wait_until(
                lambda: all(heartbeat(app, instance_of(w)) is not None for w in workers), timeout=120
            )
            if not up:
                print(sweepers.logs(), file=sys.stderr)
                return 1
            filling = time.monotonic()
            due = [utcnow() - timedelta(seconds=1)] * args.visits
            population = populate(app, visits_due=due, teams=10)
            committed = utcnow()
            print(f"{args.visits} overdue visits committed ({time.monotonic() - filling:.1f} s to build)")
            expected = 2 * args.visits  # decisions; bundling sends the managers' as fewer texts
            finished = wait_until(
                lambda: len(fake.messages) > 0 and backlog(app).quiescent, timeout=600, interval=0.2
            )
            for worker in workers:
                sweepers.stop(worker, signal.SIGTERM)
            if not finished:
                print(f"only {len(fake.messages)} texts for {expected} decisions arrived", file=sys.stderr)
                print(sweepers.logs(), file=sys.stderr)
                return 1
            last = max(m.received_at for m in fake.messages)
            first = min(m.received_at for m in fake.messages)
            verdict = check_exactly_once(
                app,
                fake,
                rules=policy.parse_policy(tomllib.loads(POLICY), "benchmark policy"),
                population=population,
                exhausted=True,
            )

    elapsed = (last - committed).total_seconds()
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{database}, {args.workers} worker(s) sweeping every {args.interval:g} s, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"{args.visits} overdue visits -> {verdict.alarms} alarms, {verdict.decisions} decisions, "
        f"{verdict.texts} texts in {elapsed:.1f} s from commit to last text "
        f"(first text after {(first - committed).total_seconds():.2f} s): "
        f"{args.visits / elapsed:.0f} visits/s, {verdict.texts / elapsed:.0f} texts/s"
    )
    print("exactly once:", "yes" if not verdict.problems else f"NO: {verdict.problems[:5]}")
    return 0 if not verdict.problems else 1


if __name__ == "__main__":
    sys.exit(main())
