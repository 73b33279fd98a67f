"""Time the incident register over a large generated data set, through the Flask test client.

    createdb -h 127.0.0.1 -U postgres bench_register
    .venv/bin/python bench/register.py --database-url postgresql://postgres@127.0.0.1:5432/bench_register

The database is wiped and migrated, then filled with bulk inserts: N incidents (default 100,000)
over two years across 20 teams, twice as many visits (the exposure), households, RIDDOR rows
for physical violence. Each request is timed `--repeat` times after one warm-up; the table shows
the median and the fastest, with the size of the answer. Figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck import create_app
from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.clock import FrozenClock
from safetycheck.db import normalise_database_url
from safetycheck.extensions import db
from safetycheck.households.models import Household
from safetycheck.incidents.enums import (
    PHYSICAL_CATEGORIES,
    IncidentCategory,
    IncidentStatus,
    RiddorState,
)
from safetycheck.incidents.models import Incident, IncidentRiddor
from safetycheck.incidents.riddor import RiddorClass
from safetycheck.visits.models import Visit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
TEAMS = 20
PRACTITIONERS_PER_TEAM = 10
HOUSEHOLDS = 5000
CHUNK = 10_000
STATUS_WEIGHTS = {
    IncidentStatus.CLOSED: 70,
    IncidentStatus.HS_REVIEW: 5,
    IncidentStatus.ACTIONS_OPEN: 6,
    IncidentStatus.UNDER_INVESTIGATION: 7,
    IncidentStatus.TRIAGED: 4,
    IncidentStatus.ACKNOWLEDGED: 3,
    IncidentStatus.REPORTED: 3,
    IncidentStatus.INFORMATION_REQUIRED: 1,
    IncidentStatus.DRAFT: 1,
}


def reset(url: str) -> None:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
    engine.dispose()


def insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(sa.insert(table), rows[start : start + CHUNK])


def generate(incidents: int, visits: int, rng: random.Random) -> dict[str, Any]:
    """People through the services; the bulk through Core inserts (seconds, not minutes)."""
    account_secrets.use_fast_hashing_for_tests()
    teams, practitioners, managers = [], {}, {}
    for t in range(TEAMS):
        team = account_service.create_team(name=f"Team {t:02d}", now=NOW)
        teams.append(team.id)
        managers[team.id] = account_service.create_user(
            name=f"Manager {t}",
            email=f"m{t}@bench.test",
            phone=f"+447700900{1 + t:03d}",  # phones are unique: 001-020 managers
            role=Role.MANAGER,
            team_id=team.id,
            password="bench-password",
            now=NOW,
        )
        practitioners[team.id] = [
            account_service.create_user(
                name=f"Worker {t}.{p}",
                email=f"w{t}.{p}@bench.test",
                phone=f"+447700900{100 + t * PRACTITIONERS_PER_TEAM + p:03d}",  # 100-299
                role=Role.PRACTITIONER,
                team_id=team.id,
                password="bench-password",
                now=NOW,
            ).id
            for p in range(PRACTITIONERS_PER_TEAM)
        ]
    lead = account_service.create_user(
        name="Lead",
        email="lead@bench.test",
        phone="+447700900900",
        role=Role.HS_LEAD,
        team_id=None,
        password="bench-password",
        now=NOW,
    )
    insert(
        Household.__table__,
        [
            {
                "key": f"LS{h % 30} {h % 9}AB|{h} HIGH STREET",
                "display_address": f"{h} High Street, Leeds",
                "postcode": f"LS{h % 30} {h % 9}AB",
                "created_at": NOW - SPAN,
            }
            for h in range(HOUSEHOLDS)
        ],
    )
    household_ids = list(db.session.scalars(sa.select(Household.id)))

    def moment() -> datetime:
        return NOW - timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))

    visit_rows = []
    for _ in range(visits):
        team = rng.choice(teams)
        start = moment()
        visit_rows.append(
            {
                "practitioner_id": rng.choice(practitioners[team]),
                "team_id": team,
                "status": "completed",
                "address": "1 High Street, Leeds",
                "checked_in_at": start,
                "due_at": start + timedelta(minutes=45),
                "checked_out_at": start + timedelta(minutes=40),
                "outcome": "safe",
                "warnings": [],
            }
        )
    insert(Visit.__table__, visit_rows)

    categories = list(IncidentCategory)
    statuses, weights = zip(*STATUS_WEIGHTS.items(), strict=True)
    incident_rows = []
    for _ in range(incidents):
        team = rng.choice(teams)
        occurred = moment()
        status = rng.choices(statuses, weights)[0]
        category = rng.choice(categories)
        near_miss = rng.random() < 0.3
        reported = occurred + timedelta(hours=rng.expovariate(1 / 20))
        physical = category in PHYSICAL_CATEGORIES
        incident_rows.append(
            {
                "status": status.value,
                "category": category.value,
                "description": "Generated for the benchmark.",
                "near_miss": near_miss,
                "harmed": (not near_miss) and rng.random() < 0.2,
                "occurred_at": occurred,
                "created_at": reported,
                "reported_at": None if status == IncidentStatus.DRAFT else reported,
                "reporter_id": rng.choice(practitioners[team]),
                "created_by": managers[team].id,
                "team_id": team,
                "household_id": rng.choice(household_ids) if rng.random() < 0.8 else None,
                "address": "1 High Street, Leeds",
                "at_marked_household": False,
                "reopened_count": 0,
                "risk_score": rng.choice([1, 2, 4, 6, 9, 12, 16, 20, 25])
                if status != IncidentStatus.REPORTED
                else None,
                "step_due_at": None if status == IncidentStatus.CLOSED else reported + timedelta(days=2),
                "riddor_state": (
                    rng.choice([RiddorState.PENDING, RiddorState.NOT_REPORTABLE, RiddorState.SUBMITTED]).value
                    if physical
                    else None
                ),
            }
        )
    insert(Incident.__table__, incident_rows)
    physical_ids = db.session.execute(
        sa.select(Incident.id, Incident.occurred_at).where(Incident.riddor_state.is_not(None))
    ).all()
    insert(
        IncidentRiddor.__table__,
        [
            {
                "incident_id": incident_id,
                "physical": True,
                "specified_injury": False,
                "death": False,
                "incapacitated": None,
                "classification": RiddorClass.PENDING.value,
                "report_by": (occurred + timedelta(days=15)).date(),
                "reason": "generated",
                "updated_at": NOW,
            }
            for incident_id, occurred in physical_ids
        ],
    )
    db.session.commit()
    return {"lead": lead, "manager": managers[teams[0]], "team": teams[1], "household": household_ids[7]}


def token(user: Any) -> str:
    issued = account_service.authenticate(
        email=user.email, password="bench-password", device="bench", now=NOW, ttl=timedelta(days=1)
    )
    db.session.commit()
    return issued.token


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float, int]:
    response = call()  # warm-up (and a check)
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
    size = len(response.get_data())
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        response.get_data()  # to the last byte (the CSV streams)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_register")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=None, help="default: twice the incidents")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    reset(args.database_url)
    app = create_app(
        {
            "DATABASE_URL": args.database_url,
            "SCHEDULER_ENABLED": False,
            "SECRET_KEY": "bench",
            "LOG_LEVEL": "WARNING",
        },
        clock=FrozenClock(NOW),
    )
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        started = time.perf_counter()
        people = generate(args.incidents, args.visits or 2 * args.incidents, random.Random(args.seed))
        generated = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
            server = db.session.scalar(sa.text("SHOW server_version"))
        else:
            server = "SQLite " + db.session.scalar(sa.text("SELECT sqlite_version()"))
        lead, manager = token(people["lead"]), token(people["manager"])
        team, household = people["team"], people["household"]

    client = app.test_client()

    def get(path: str, bearer: str) -> Callable[[], Any]:
        return lambda: client.get(path, headers={"Authorization": f"Bearer {bearer}"})

    year = "occurred_from=2025-03-01T00:00:00Z&occurred_to=2026-03-01T00:00:00Z"
    cases = [
        ("list, lead, newest first (page 1 of 50)", get("/api/v1/incidents", lead)),
        (
            "list, lead, category + near_miss",
            get("/api/v1/incidents?category=physical_assault&near_miss=false", lead),
        ),
        ("list, lead, team + 12 months", get(f"/api/v1/incidents?team_id={team}&{year}", lead)),
        (
            "list, lead, status, sorted by risk",
            get("/api/v1/incidents?status=under_investigation&sort=-risk_score", lead),
        ),
        ("list, lead, household", get(f"/api/v1/incidents?household_id={household}", lead)),
        ("list, lead, RIDDOR open", get("/api/v1/incidents?riddor=open", lead)),
        ("list, lead, page 100", get("/api/v1/incidents?page=100", lead)),
        ("list, manager (team reach)", get("/api/v1/incidents", manager)),
        ("summary, lead, last 12 months", get("/api/v1/incidents/summary", lead)),
        ("summary, manager, last 12 months", get("/api/v1/incidents/summary", manager)),
        ("CSV export, lead, whole register", get("/api/v1/incidents/export.csv", lead)),
        ("CSV export, lead, one category", get("/api/v1/incidents/export.csv?category=threat", lead)),
    ]
    print(
        f"{args.incidents:,} incidents, {args.visits or 2 * args.incidents:,} visits, {server}; "
        f"generated in {generated:.1f} s; {args.repeat} runs each after a warm-up"
    )
    print("| request | median ms | fastest ms | answer |")
    print("| --- | ---: | ---: | ---: |")
    for name, call in cases:
        median, fastest, size = timed(call, args.repeat)
        print(f"| {name} | {median:,.1f} | {fastest:,.1f} | {size / 1024:,.0f} KiB |")


if __name__ == "__main__":
    main()
