"""P2: the cost of a sweep with nothing due, at 1,000 and at 100,000 active visits, with query plans.

    .venv/bin/python bench/sweep_cost.py                      # SQLite file in a temp dir
    .venv/bin/python bench/sweep_cost.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

A sweep with nothing due should cost the same whatever the number of active visits: every part's
query should reach its rows through an index range that is empty, never scan the visits. For
each size in `--active` the scratch database gets that many active visits due hours from now
(`bench/load.py`); then `--sweeps` sweeps run in this process (`run_sweep`, the engine itself,
after a few to warm up) and their durations are reported, with the ratio of the largest size to
the smallest. Then each part is run once more on its own with its statements captured, and each
statement (and each `next_due` query) is explained: `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL,
`EXPLAIN QUERY PLAN` on SQLite, in a transaction rolled back after. A plan that scans a table
whole is marked SCAN. Figures go into docs/benchmarks.md ("P2 sweep cost").
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.load import grow_load
from safetycheck.engine.parts import registered_parts
from safetycheck.engine.sweep import run_sweep
from safetycheck.extensions import db
from tests.escalation.harness import MANAGERS_AT_DUE_POLICY, open_app, scratch_database, utcnow, write_policy

WARM_UP = 3
# Whole-table scans of the tables that grow with the load (visits, users); small tables are fine.
GROWING = ("visits", "users", "sms_outbox", "alarms", "timeline_entries", "incidents")


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def note(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not executemany:
            statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)


def explain(statement: str, parameters: Any) -> tuple[list[str], float | None]:
    """The plan's lines (and, on PostgreSQL, the execution time in ms), in a rolled-back transaction."""
    postgres = db.engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).fetchall()
        conn.rollback()
    if postgres:
        lines = [row[0] for row in rows]
        took = next(
            (float(m.group(1)) for line in lines if (m := re.search(r"Execution Time: ([\d.]+)", line))), None
        )
        return lines, took
    return [str(row[-1]) for row in rows], None


def scans(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        m = re.search(r"Seq Scan on (\w+)", line) or re.match(r"SCAN (\w+)(?! USING)", line.strip())
        if m and m.group(1) in GROWING and "USING" not in line:
            found.append(m.group(1))
    return found


def part_statements() -> list[tuple[str, str, Any]]:
    """(part, statement, parameters) of one run of every part and of its next_due query."""
    out: list[tuple[str, str, Any]] = []
    for part in registered_parts():
        with captured() as statements:
            part.run(db.session, utcnow())
            db.session.commit()
        out += [(part.name, s, p) for s, p in statements]
        if part.next_due is not None:
            with captured() as statements:
                part.next_due(db.session, utcnow())
                db.session.rollback()
            out += [(f"{part.name} (next_due)", s, p) for s, p in statements]
    return [row for row in out if row[1].lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE"))]


def short(statement: str) -> str:
    flat = " ".join(statement.split())
    where = flat.find(" WHERE ")
    head = flat[: flat.find(" FROM ")] if " FROM " in flat else flat[:60]
    return (head[:50] + " …" + flat[where : where + 110]) if where > 0 else flat[:160]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--active", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--sweeps", type=int, default=30)
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    args = parser.parse_args()
    figures: list[tuple[int, list[float], dict[str, float]]] = []
    plans: dict[int, list[tuple[str, str, list[str], float | None]]] = {}

    with tempfile.TemporaryDirectory(prefix="sweep-cost-") as tmp:
        policy_path = write_policy(Path(tmp), MANAGERS_AT_DUE_POLICY)
        with (
            scratch_database(args.database_url, Path(tmp), "bench_sweep_cost") as url,
            open_app(url, policy_path) as app,
        ):
            for size in args.active:
                with app.app_context():
                    grow_load(size)
                for _ in range(WARM_UP):
                    run_sweep(app)
                reports = [run_sweep(app) for _ in range(args.sweeps)]
                assert all(not r.errors for r in reports), reports[0].errors
                if any(sum(r.done.values()) for r in reports):
                    print(f"  note: some sweeps did work: {reports[-1].summary()}", flush=True)
                per_part = {
                    name: statistics.median(r.seconds.get(name, 0.0) for r in reports) * 1000
                    for name in reports[0].seconds
                }
                figures.append((size, [r.duration_ms for r in reports], per_part))
                with app.app_context():
                    plans[size] = [(part, s, *explain(s, p)) for part, s, p in part_statements()]
                print(f"  {size:,} active visits: measured", flush=True)

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{database}, {args.sweeps} sweeps with nothing due per size, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("| active visits | median ms | p95 ms | min ms |")
    print("| ---: | ---: | ---: | ---: |")
    for size, durations, _ in figures:
        ordered = sorted(durations)
        p95 = ordered[max(int(0.95 * len(ordered)) - 1, 0)]
        print(f"| {size:,} | {statistics.median(durations):.1f} | {p95:.1f} | {min(durations):.1f} |")
    if len(figures) > 1:
        first, last = figures[0], figures[-1]
        ratio = statistics.median(last[1]) / statistics.median(first[1])
        print(f"\nratio {last[0]:,} / {first[0]:,}: {ratio:.2f}")
    print("\nmedian ms per part:")
    names = list(figures[0][2])
    print("| part | " + " | ".join(f"{size:,}" for size, _, _ in figures) + " |")
    print("| --- | " + " | ".join("---:" for _ in figures) + " |")
    for name in names:
        print(f"| {name} | " + " | ".join(f"{per.get(name, 0.0):.2f}" for _, _, per in figures) + " |")
    largest = max(plans)
    print(f"\nplans at {largest:,} active visits (statement, execution ms, whole-table scans):")
    for part, statement, lines, took in plans[largest]:
        scanned = scans(lines)
        mark = f"SCAN {','.join(scanned)}" if scanned else "index"
        took_s = f"{took:.3f} ms" if took is not None else "-"
        print(f"- {part}: {took_s}, {mark}: {short(statement)}")
        if args.plans or scanned:
            for line in lines:
                print(f"      {line}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.1f} s)")
    sys.exit(code)
