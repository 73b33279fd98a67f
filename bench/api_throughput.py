"""Check-in → check-out cycles under gunicorn, beside two bare endpoints under the same workers.

    createdb -h 127.0.0.1 -U postgres bench_api
    .venv/bin/python bench/api_throughput.py --database-url postgresql://postgres@127.0.0.1:5432/bench_api

The database is WIPED and migrated, then given one team, a practitioner with a device token for
each load thread, and a household for each (half with an active warning marker, so check-ins
answer with a warning). gunicorn then serves `bench/api_throughput_wsgi.py` (2 sync workers by
default): the real app, `/bare/json` (a small JSON object) and `/bare/write` (one INSERT and
COMMIT through psycopg). Load threads with keep-alive http.client connections (gunicorn's sync
workers close each one; http.client reopens it) drive three phases in turn, `--rounds` times, so
that the machine's other work falls on all three alike:

    json    GET /bare/json
    write   POST /bare/write
    cycle   POST /api/v1/visits (with an Idempotency-Key) then POST /api/v1/visits/<id>/checkout

The table gives requests/s (median over the rounds) and p99 over all rounds, and the ratio of
the cycle's requests/s to the bare write's: the figure to compare between runs, more stable than
the absolute numbers on a shared machine. Statements per request are counted first, in process,
through a SQLAlchemy `before_cursor_execute` listener (commits counted with the `commit` event);
`--show-statements` prints them. The schema is dropped again at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck import create_app
from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.db import normalise_database_url
from safetycheck.extensions import db
from safetycheck.households import matching
from safetycheck.households.models import Marker
from safetycheck.incidents.models import Incident

BENCH = Path(__file__).resolve().parent
WRITE_TABLE = "bench_bare_writes"
VISITS = "/api/v1/visits"


def reset(url: str) -> None:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def app_settings(url: str) -> dict[str, str]:
    """The environment of the served app: no in-process sweep, no abuse limits (a load test)."""
    return {
        "SAFETYCHECK_DATABASE_URL": url,
        "SAFETYCHECK_SCHEDULER_ENABLED": "false",
        "SAFETYCHECK_RATELIMIT_ENABLED": "false",
        "SAFETYCHECK_SECRET_KEY": "bench",
        "SAFETYCHECK_LOG_LEVEL": "WARNING",
    }


def address(n: int) -> str:
    return f"{n + 1} Bench Road, Leeds LS{n % 20 + 1} 4AB"


def seed(threads: int, now: datetime) -> list[str]:
    """One practitioner (and token) per load thread, each visiting their own household."""
    account_secrets.use_fast_hashing_for_tests()
    team = account_service.create_team(name="Bench team", now=now)
    manager = account_service.create_user(
        name="Bench Manager",
        email="manager@bench.test",
        phone="+447700900001",
        role=Role.MANAGER,
        team_id=team.id,
        password="bench-password",
        now=now,
    )
    incident = Incident(
        status="closed",
        category="verbal_abuse",
        description="Generated for the benchmark.",
        near_miss=False,
        harmed=False,
        occurred_at=now - timedelta(days=10),
        created_at=now - timedelta(days=10),
        reported_at=now - timedelta(days=10),
        reporter_id=manager.id,
        created_by=manager.id,
        team_id=team.id,
        address=address(0),
        at_marked_household=False,
        reopened_count=0,
    )
    db.session.add(incident)
    tokens = []
    for n in range(threads):
        user = account_service.create_user(
            name=f"Bench Worker {n}",
            email=f"w{n}@bench.test",
            phone=f"+447700900{100 + n:03d}",
            role=Role.PRACTITIONER,
            team_id=team.id,
            password="bench-password",
            now=now,
        )
        tokens.append(account_service.issue_token(user, device="bench", now=now, ttl=timedelta(days=1)).token)
        household = matching.household_for(address(n), now=now)
        assert household is not None
        if n % 2 == 0:
            db.session.flush()
            db.session.add(
                Marker(
                    household_id=household.id,
                    status="active",
                    reason="A dog is kept loose in the garden.",
                    controls=["written_agreement"],
                    team_id=team.id,
                    incident_id=incident.id,
                    proposed_by=manager.id,
                    proposed_at=now - timedelta(days=9),
                    decided_by=manager.id,
                    decided_at=now - timedelta(days=9),
                    review_at=now + timedelta(days=90),
                )
            )
    db.session.execute(
        sa.text(
            f"CREATE TABLE {WRITE_TABLE} (id serial PRIMARY KEY, at timestamptz DEFAULT now(), body text)"
        )
    )
    db.session.commit()
    return tokens


@contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement the engine sends (and each COMMIT) while the block runs."""
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    def on_commit(conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def count_statements(app: Any, token: str, show: bool) -> dict[str, int]:
    """Statements of one check-in and one check-out, in steady state (the token's last use is
    recent, so the once-a-minute `last_used_at` write is not part of it)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    counts = {}
    for label in ("warm-up", "measured"):
        with counting(db.engine) as check_in_statements:
            response = client.post(
                VISITS,
                json={"address": address(0), "duration_minutes": 60},
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
        assert response.status_code == 201, response.get_json()
        with counting(db.engine) as check_out_statements:
            done = client.post(f"{VISITS}/{response.get_json()['id']}/checkout", json={}, headers=headers)
        assert done.status_code == 200, done.get_json()
        if label == "measured":
            counts = {"check-in": len(check_in_statements), "check-out": len(check_out_statements)}
            if show:
                for name, statements in (
                    ("check-in", check_in_statements),
                    ("check-out", check_out_statements),
                ):
                    print(f"\n{name}: {len(statements)} statements")
                    for statement in statements:
                        print(f"  {statement[:160]}")
    return counts


@dataclass
class Phase:
    name: str
    durations: dict[str, list[float]] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, float]:
    data = json.dumps(body).encode() if body is not None else None
    started = time.perf_counter()
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        payload = response.read()
    except (http.client.HTTPException, OSError):
        conn.close()  # gunicorn closed it between requests: reopen on the next
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        payload = response.read()
    elapsed = time.perf_counter() - started
    if response.getheader("Connection", "").lower() == "close":
        conn.close()
    return response.status, json.loads(payload) if payload else None, elapsed


Step = Callable[[http.client.HTTPConnection, int], list[tuple[str, float, bool]]]


def json_step(conn: http.client.HTTPConnection, n: int) -> list[tuple[str, float, bool]]:
    status, _, elapsed = request(conn, "GET", "/bare/json")
    return [("bare JSON", elapsed, status == 200)]


def write_step(conn: http.client.HTTPConnection, n: int) -> list[tuple[str, float, bool]]:
    status, _, elapsed = request(conn, "POST", "/bare/write", {})
    return [("bare INSERT + COMMIT", elapsed, status == 201)]


def cycle_step(tokens: list[str]) -> Step:
    def step(conn: http.client.HTTPConnection, n: int) -> list[tuple[str, float, bool]]:
        auth = {"Authorization": f"Bearer {tokens[n]}"}
        status, body, elapsed_in = request(
            conn,
            "POST",
            VISITS,
            {"address": address(n), "duration_minutes": 60},
            {**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        if status != 201:
            return [("check-in", elapsed_in, False)]
        status_out, _, elapsed_out = request(conn, "POST", f"{VISITS}/{body['id']}/checkout", {}, auth)
        return [("check-in", elapsed_in, True), ("check-out", elapsed_out, status_out == 200)]

    return step


def run_phase(phase: Phase, step: Step, *, port: int, threads: int, seconds: float) -> None:
    stop = time.perf_counter() + seconds
    lock = threading.Lock()
    done = 0

    def load(n: int) -> None:
        nonlocal done
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            for label, elapsed, ok in step(conn, n):
                with lock:
                    phase.durations.setdefault(label, []).append(elapsed)
                    done += 1
                    phase.errors += 0 if ok else 1
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=load, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    phase.rates.append(done / (time.perf_counter() - started))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


@contextmanager
def gunicorn(url: str, *, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        **app_settings(url),
        "BENCH_WRITE_DSN": url.replace("postgresql+psycopg://", "postgresql://"),
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--pythonpath",
            str(BENCH),
            "--log-level",
            "warning",
            "api_throughput_wsgi:application",
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/bare/json")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        # One request per worker at least, so that neither pays its imports inside a phase.
        for _ in range(4 * workers):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/openapi.json")
            conn.getresponse().read()
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def profile(pid: int, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy over gunicorn's workers for one phase (its own process, so it costs the workers little)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(max(1, int(seconds))),
            "--format",
            "raw",
            "--output",
            out,
        ],
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_api")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--threads", type=int, default=4, help="load threads (one practitioner each)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--show-statements", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the data in place afterwards")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="record the workers with py-spy during the cycle phases (collapsed stacks into FILE; "
        "py-spy is not a dependency: pip install py-spy into the venv)",
    )
    args = parser.parse_args()
    if not args.database_url.startswith(("postgresql", "postgres://")):
        parser.error("--database-url must be a PostgreSQL URL (the bare write uses psycopg)")

    reset(args.database_url)
    now = datetime.now(UTC)
    os.environ.update(app_settings(args.database_url))
    app = create_app()
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        tokens = seed(args.threads, now)
        statements = count_statements(app, tokens[0], args.show_statements)
        server = db.session.scalar(sa.text("SHOW server_version"))
        db.session.remove()
        db.engine.dispose()

    port = args.port or free_port()
    phases = {"json": Phase("json"), "write": Phase("write"), "cycle": Phase("cycle")}
    steps: dict[str, Step] = {"json": json_step, "write": write_step, "cycle": cycle_step(tokens)}
    load_before = os.getloadavg()
    try:
        with gunicorn(args.database_url, port=port, workers=args.workers) as master:
            for round_number in range(args.rounds):
                for name, phase in phases.items():
                    spy = None
                    if args.profile and name == "cycle":
                        spy = profile(master.pid, f"{args.profile}.{round_number}", args.seconds)
                    run_phase(phase, steps[name], port=port, threads=args.threads, seconds=args.seconds)
                    if spy is not None:
                        spy.wait(timeout=60)
    finally:
        if not args.keep:
            reset(args.database_url)
    load_after = os.getloadavg()

    print(
        f"\nPostgreSQL {server}; gunicorn {args.workers} sync workers; {args.threads} load threads; "
        f"{args.rounds} rounds of {args.seconds:g} s per phase; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)"
    )
    print("\n| endpoint | requests/s (median of rounds) | p99 ms | statements | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [
        ("bare JSON", phases["json"], "bare JSON", "0"),
        ("bare INSERT + COMMIT", phases["write"], "bare INSERT + COMMIT", "2"),
    ]
    for label, phase, key, count in rows:
        rate = statistics.median(phase.rates)
        print(
            f"| {label} | {rate:,.0f} | {p99(phase.durations[key]) * 1000:.1f} | {count} | {phase.errors} |"
        )
    cycle = phases["cycle"]
    cycle_rate = statistics.median(cycle.rates)
    for key in ("check-in", "check-out"):
        durations = cycle.durations.get(key, [])
        print(
            f"| {key} (in the cycle) | {cycle_rate:,.0f} (both) | "
            f"{p99(durations) * 1000 if durations else float('nan'):.1f} | {statements[key]} | "
            f"{cycle.errors if key == 'check-in' else ''} |"
        )
    write_rate = statistics.median(phases["write"].rates)
    json_rate = statistics.median(phases["json"].rates)
    print(
        f"\ncheck-in/check-out ÷ bare write: {cycle_rate / write_rate:.2f} (goal ≥ 0.5); "
        f"÷ bare JSON: {cycle_rate / json_rate:.2f}; per round: "
        + ", ".join(f"{c / w:.2f}" for c, w in zip(cycle.rates, phases["write"].rates, strict=True))
    )


if __name__ == "__main__":
    main()
