"""Time the incident register over a large generated data set, through the Flask test client.

    .venv/bin/python bench/register.py --database-url postgresql://postgres@127.0.0.1:5432/DB \
        --incidents 1000000

On PostgreSQL the data goes in a schema of its own (`--schema`, dropped at the end unless
`--keep`; `--reuse` times the kept data again), made by `generate_series` inside the server: N
incidents (default 100,000) over two years across 20 teams, twice as many visits (the
exposure), 5,000 households, RIDDOR rows for physical violence. On SQLite, Core inserts. The
register's rollups are then refreshed as the worker's sweep would. Each request runs `--repeat`
times after one warm-up; the table shows p50 and p95. Figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
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
from safetycheck.accounts.models import Team, User
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


def insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(sa.insert(table), rows[start : start + CHUNK])


def people() -> dict[str, Any]:
    """Teams, managers, practitioners and the lead, through the services (a few hundred rows)."""
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
    return {"teams": teams, "practitioners": practitioners, "managers": managers, "lead": lead}


def generate(incidents: int, visits: int, rng: random.Random) -> dict[str, Any]:
    """The bulk in Python through Core inserts: fine for SQLite and for a few 100,000 rows."""
    folks = people()
    teams, practitioners, managers = (folks[k] for k in ("teams", "practitioners", "managers"))
    lead = folks["lead"]
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


_WEIGHTS = list(STATUS_WEIGHTS.values())
PG_STATUS_CASE = " ".join(
    f"WHEN r_status < {sum(_WEIGHTS[: i + 1]) / sum(_WEIGHTS)} THEN '{status.value}'"
    for i, status in enumerate(STATUS_WEIGHTS)
)


def generate_postgresql(incidents: int, visits: int, seed: int) -> dict[str, Any]:
    """The bulk with `generate_series` inside PostgreSQL: a million incidents in about a minute.

    Same shape as `generate`: moments uniform over two years, a reporting lag drawn from an
    exponential of mean 20 hours, the status weights (but closed after 60 days: open work is
    recent, as in a working register), 30% near misses, 80% at a household.
    """
    folks = people()
    teams, practitioners, managers = (folks[k] for k in ("teams", "practitioners", "managers"))
    lead = folks["lead"]
    db.session.execute(sa.text("SELECT setseed(:seed)"), {"seed": (seed % 1000) / 1000})
    db.session.execute(
        sa.text(
            "INSERT INTO households (key, display_address, postcode, created_at) "
            "SELECT 'LS' || (h % 30) || ' ' || (h % 9) || 'AB|' || h || ' HIGH STREET', "
            "h || ' High Street, Leeds', 'LS' || (h % 30) || ' ' || (h % 9) || 'AB', :start "
            "FROM generate_series(0, :n - 1) h"
        ),
        {"n": HOUSEHOLDS, "start": NOW - SPAN},
    )
    pids = [p for t in teams for p in practitioners[t]]
    tids = [t for t in teams for _ in practitioners[t]]
    mids = [managers[t].id for t in teams for _ in practitioners[t]]
    hids = list(db.session.scalars(sa.select(Household.id).order_by(Household.id)))
    arrays = {"pids": pids, "tids": tids, "mids": mids, "hids": hids, "n": len(pids), "nh": len(hids)}
    span = int(SPAN.total_seconds())
    # Indexes are built once at the end (much faster than kept up row by row); constraints stay.
    indexes = db.session.execute(
        sa.text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('visits', 'incidents') AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint)"
        )
    ).all()
    for name, _ in indexes:
        db.session.execute(sa.text(f'DROP INDEX "{name}"'))
    db.session.commit()
    db.session.execute(
        sa.text(
            "INSERT INTO visits (practitioner_id, team_id, status, address, checked_in_at, due_at, "
            "checked_out_at, outcome, warnings) "
            "SELECT (CAST(:pids AS int[]))[i], (CAST(:tids AS int[]))[i], 'completed', "
            "'1 High Street, Leeds', t, "
            "t + interval '45 minutes', t + interval '40 minutes', 'safe', '[]' "
            "FROM (SELECT 1 + floor(random() * :n)::int AS i, "
            "  :now - floor(random() * :span) * interval '1 second' AS t "
            "  FROM generate_series(1, :visits)) s"
        ),
        {**arrays, "now": NOW, "span": span, "visits": visits},
    )
    db.session.commit()
    categories = [c.value for c in IncidentCategory]
    physical = [c.value for c in PHYSICAL_CATEGORIES]
    riddor = [RiddorState.PENDING.value, RiddorState.NOT_REPORTABLE.value, RiddorState.SUBMITTED.value]
    db.session.execute(
        sa.text(
            "INSERT INTO incidents (status, category, description, near_miss, harmed, occurred_at, "
            "created_at, reported_at, reporter_id, created_by, team_id, household_id, address, "
            "at_marked_household, reopened_count, risk_score, step_due_at, riddor_state) "
            "SELECT status, category, 'Generated for the benchmark.', near_miss, "
            "  (NOT near_miss) AND r_harm < 0.2, occurred, reported, "
            "  CASE WHEN status = 'draft' THEN NULL ELSE reported END, (CAST(:pids AS int[]))[i], "
            "  (CAST(:mids AS int[]))[i], (CAST(:tids AS int[]))[i], "
            "  CASE WHEN r_house < 0.8 THEN (CAST(:hids AS int[]))[1 + floor(r_house / 0.8 * :nh)::int] "
            "  END, "
            "  '1 High Street, Leeds', r_marked < 0.05, 0, "
            "  CASE WHEN status <> 'reported' "
            "    THEN (ARRAY[1,2,4,6,9,12,16,20,25])[1 + floor(r_risk * 9)::int] END, "
            "  CASE WHEN status <> 'closed' THEN reported + interval '2 days' END, "
            "  CASE WHEN category = ANY(CAST(:physical AS text[])) "
            "    THEN (CAST(:riddor AS text[]))[1 + floor(r_riddor * 3)::int] END "
            "FROM (SELECT *, occurred + (-ln(1 - r_lag) * 20) * interval '1 hour' AS reported, "
            # Work in progress is recent: what happened over 60 days ago is closed (or a draft).
            f"  CASE WHEN occurred < CAST(:now AS timestamptz) - interval '60 days' AND r_status < 0.99 "
            f"    THEN 'closed' ELSE CASE {PG_STATUS_CASE} ELSE 'closed' END END AS status, "
            "  (CAST(:categories AS text[]))[1 + floor(r_cat * :ncat)::int] AS category "
            "  FROM (SELECT 1 + floor(random() * :n)::int AS i, "
            "    :now - floor(random() * :span) * interval '1 second' AS occurred, "
            "    random() < 0.3 AS near_miss, random() AS r_harm, random() AS r_lag, random() AS r_status, "
            "    random() AS r_cat, random() AS r_house, random() AS r_marked, random() AS r_risk, "
            "    random() AS r_riddor FROM generate_series(1, :incidents)) raw) s"
        ),
        {
            **arrays,
            "now": NOW,
            "span": span,
            "incidents": incidents,
            "categories": categories,
            "ncat": len(categories),
            "physical": physical,
            "riddor": riddor,
        },
    )
    db.session.execute(
        sa.text(
            "INSERT INTO incident_riddor (incident_id, physical, specified_injury, death, classification, "
            "report_by, reason, updated_at) "
            "SELECT id, true, false, false, :pending, (occurred_at + interval '15 days')::date, "
            "'generated', :now "
            "FROM incidents WHERE riddor_state IS NOT NULL"
        ),
        {"pending": RiddorClass.PENDING.value, "now": NOW},
    )
    db.session.commit()
    for _, definition in indexes:
        db.session.execute(sa.text(definition))
        db.session.commit()
    household = hids[7]
    return {"lead": lead, "manager": managers[teams[0]], "team": teams[1], "household": household}


def token(user: Any) -> str:
    issued = account_service.authenticate(
        email=user.email, password="bench-password", device="bench", now=NOW, ttl=timedelta(days=1)
    )
    db.session.commit()
    return issued.token


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float, int]:
    """p50 and p95 in ms over `repeat` runs after a warm-up, and the size of the answer."""
    response = call()  # warm-up (and a check)
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
    size = len(response.get_data())
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        response.get_data()  # to the last byte (the CSV streams)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return statistics.median(times), p95, size


def reset(url: str, schema: str | None) -> None:
    """An empty schema of our own (PostgreSQL), or an emptied file (SQLite)."""
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        else:
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
    engine.dispose()


def drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def in_schema(url: str, schema: str) -> str:
    """The URL with the schema first on the search path: the bench never touches `public`."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_register")
    parser.add_argument("--schema", default="bench_register", help="PostgreSQL: the schema the data goes in")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=None, help="default: twice the incidents")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier --keep run")
    parser.add_argument("--keep", action="store_true", help="leave the data for another run")
    parser.add_argument("--all", action="store_true", help="every request, not only the four P5 ones")
    args = parser.parse_args()

    postgres = args.database_url.startswith("postgres")
    url = in_schema(args.database_url, args.schema) if postgres else args.database_url
    if not args.reuse:
        reset(args.database_url, args.schema)
    app = create_app(
        {
            "DATABASE_URL": url,
            "SCHEDULER_ENABLED": False,
            "SECRET_KEY": "bench",
            "LOG_LEVEL": "WARNING",
        },
        clock=FrozenClock(NOW),
    )
    from flask_migrate import upgrade

    visits = args.visits or 2 * args.incidents
    try:
        with app.app_context():
            generated = 0.0
            if not args.reuse:
                upgrade()
                started = time.perf_counter()
                if postgres:
                    generate_postgresql(args.incidents, visits, args.seed)
                else:
                    generate(args.incidents, visits, random.Random(args.seed))
                generated = time.perf_counter() - started
                if postgres:
                    db.session.commit()
                    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                        conn.execute(sa.text("VACUUM ANALYZE"))
            found = bench_people()
            started = time.perf_counter()
            swept = refresh_rollups(app)
            refreshed = time.perf_counter() - started
            server = (
                db.session.scalar(sa.text("SHOW server_version"))
                if postgres
                else "SQLite " + db.session.scalar(sa.text("SELECT sqlite_version()"))
            )
            lead, manager = token(found["lead"]), token(found["manager"])
            team, household = found["team"], found["household"]

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
            ("summary, lead, last 12 months", get("/api/v1/incidents/summary", lead)),
            ("summary, manager, last 12 months", get("/api/v1/incidents/summary", manager)),
        ]
        if args.all:
            cases += [
                ("list, lead, team + 12 months", get(f"/api/v1/incidents?team_id={team}&{year}", lead)),
                (
                    "list, lead, status, sorted by risk",
                    get("/api/v1/incidents?status=under_investigation&sort=-risk_score", lead),
                ),
                ("list, lead, household", get(f"/api/v1/incidents?household_id={household}", lead)),
                ("list, lead, RIDDOR open", get("/api/v1/incidents?riddor=open", lead)),
                ("list, lead, page 100", get("/api/v1/incidents?page=100", lead)),
                ("list, manager (team reach)", get("/api/v1/incidents", manager)),
                ("CSV export, lead, one category", get("/api/v1/incidents/export.csv?category=threat", lead)),
            ]
        print(
            f"{args.incidents:,} incidents, {visits:,} visits, {server}; "
            f"generated in {generated:.1f} s; first rollup refresh {refreshed:.1f} s ({swept} keys); "
            f"{args.repeat} runs each after a warm-up; load {load()}"
        )
        print("| request | p50 ms | p95 ms | answer |")
        print("| --- | ---: | ---: | ---: |")
        for name, call in cases:
            median, p95, size = timed(call, args.repeat)
            print(f"| {name} | {median:,.1f} | {p95:,.1f} | {size / 1024:,.0f} KiB |")
    finally:
        if postgres and not args.keep:
            drop_schema(args.database_url, args.schema)


def bench_people() -> dict[str, Any]:
    """The lead, the first team's manager, the second team and a household, found by name."""
    lead = db.session.scalar(sa.select(User).where(User.email == "lead@bench.test"))
    manager = db.session.scalar(sa.select(User).where(User.email == "m0@bench.test"))
    team = db.session.scalar(sa.select(Team.id).where(Team.name == "Team 01"))
    household = db.session.scalar(sa.select(Household.id).order_by(Household.id).offset(7).limit(1))
    return {"lead": lead, "manager": manager, "team": team, "household": household}


def refresh_rollups(app: Any) -> int:
    """Run the register's sweep part until nothing is left to refresh, as the worker would."""
    try:
        from safetycheck.reporting import rollups
    except ImportError:  # before the rollups existed: nothing to do
        return 0
    done = 0
    while True:
        count = rollups.refresh_rollups(db.session, NOW)
        db.session.commit()
        done += count
        if count == 0:
            return done


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
