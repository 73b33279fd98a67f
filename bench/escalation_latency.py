"""Measure the delay between a visit's due time and its manager's text reaching Twilio.

    .venv/bin/python bench/escalation_latency.py                      # SQLite file in a temp dir
    .venv/bin/python bench/escalation_latency.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

A real `flask --app safetycheck worker` process sweeps every `--interval` seconds (1 by default)
and sends through the twilio SDK to a local FakeTwilio, which stamps each message as it arrives.
The policy texts the worker and their team managers at the due time (both steps `after = 0`), so
the delay is what the sweep adds: waiting for the next sweep, then marking the visit overdue,
deciding the step and sending. `--visits` visits (20) fall due from `--lead` seconds from now, at
random moments within `--spread` seconds (by default one visit per sweep interval on average),
so that due times land at every phase of the sweep. With `--database-url`, a scratch database
is created on that PostgreSQL server and dropped after. Figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck.accounts import secrets as account_secrets
from tests.escalation.harness import (
    MANAGERS_AT_DUE_POLICY as POLICY,
)
from tests.escalation.harness import (
    heartbeat,
    instance_of,
    populate,
    utcnow,
    wait_until,
    worker_world,
)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--visits", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="SWEEP_INTERVAL_SECONDS")
    parser.add_argument("--lead", type=float, default=4.0, help="seconds until the first visit is due")
    parser.add_argument(
        "--spread", type=float, help="seconds the due times are spread over (default: one a sweep)"
    )
    parser.add_argument("--seed", type=int, default=1, help="for the due times within the spread")
    args = parser.parse_args()
    spread = args.spread if args.spread is not None else args.visits * args.interval
    account_secrets.use_fast_hashing_for_tests()

    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        with worker_world(args.database_url, Path(tmp), "bench_latency", POLICY, interval=args.interval) as (
            fake,
            app,
            sweepers,
        ):
            worker = sweepers.start("worker", name="worker")
            if not wait_until(lambda: heartbeat(app, instance_of(worker)) is not None, timeout=60):
                print(sweepers.logs(), file=sys.stderr)
                return 1
            start = utcnow() + timedelta(seconds=args.lead)
            # Random (seeded) rather than evenly spaced, which would hit only a few sweep phases.
            rng = random.Random(args.seed)
            due = sorted(start + timedelta(seconds=rng.uniform(0, spread)) for _ in range(args.visits))
            population = populate(app, visits_due=due)
            manager_phone = population.phones[min(population.phones)]  # the first user made
            by_address = {f"{i + 1} Harness Street": due[i] for i in range(args.visits)}

            def arrived() -> list:
                return [m for m in fake.messages if m.to == manager_phone]

            deadline = args.lead + spread + 10 * args.interval + 10
            if not wait_until(lambda: len(arrived()) >= args.visits, timeout=deadline, interval=0.1):
                print(f"only {len(arrived())} of {args.visits} manager texts arrived", file=sys.stderr)
                print(sweepers.logs(), file=sys.stderr)
                return 1
            sweepers.stop(worker, signal.SIGTERM)

        delays = []
        for message in arrived():
            [address] = [a for a in by_address if f" at {a}." in message.body]
            delays.append((message.received_at - by_address[address]).total_seconds() * 1000)

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{database}, sweep every {args.interval:g} s, {args.visits} visits due over {spread:g} s, "
        f"{os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("due → manager's text at Twilio, ms:")
    print(
        f"  min {min(delays):.0f}  median {statistics.median(delays):.0f}  "
        f"p95 {percentile(delays, 95):.0f}  max {max(delays):.0f}"
    )
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.1f} s)")
    sys.exit(code)
