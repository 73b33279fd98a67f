"""Background load for the engine benchmarks: many active visits, none due during the run.

Each visit needs a practitioner of its own (one current visit per practitioner is a unique
index), so rows are made by the database itself in two `INSERT … SELECT` statements per chunk
(`generate_series` on PostgreSQL, a recursive CTE on SQLite): a million visits take about a
minute rather than the hours the services would. They fall due 2 to 12 hours from now, in a
team of their own whose manager nobody reads.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa

from safetycheck.extensions import db

CHUNK = 100_000
TEAM_NAME = "Background load"
EMAIL_DOMAIN = "@load.bench"


def _team_id(now: datetime) -> int:
    team_id = db.session.scalar(sa.text("SELECT id FROM teams WHERE name = :n"), {"n": TEAM_NAME})
    if team_id is None:
        team_id = db.session.scalar(
            sa.text("INSERT INTO teams (name, created_at) VALUES (:n, :at) RETURNING id"),
            {"n": TEAM_NAME, "at": _stamp(now)},
        )
    return int(team_id)


def _stamp(moment: datetime) -> object:
    # SQLite keeps naive UTC text (as `safetycheck.db.UTCDateTime` writes it); PostgreSQL a timestamptz.
    if db.session.get_bind().dialect.name == "sqlite":
        return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def active_load() -> int:
    """How many background visits are active now."""
    return int(
        db.session.scalar(
            sa.text(
                "SELECT count(*) FROM visits v JOIN teams t ON t.id = v.team_id "
                "WHERE t.name = :n AND v.status = 'active'"
            ),
            {"n": TEAM_NAME},
        )
        or 0
    )


def grow_load(target: int, *, now: datetime | None = None, quiet: bool = False) -> float:
    """Add background active visits until there are `target`; returns the seconds it took."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    team_id = _team_id(now)
    have = active_load()
    while have < target:
        lo, hi = have + 1, min(have + CHUNK, target)
        if sqlite:
            series = "WITH RECURSIVE g(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM g WHERE n < :hi) "
            source = "g"
            due = (
                "strftime('%Y-%m-%d %H:%M:%S', 'now', '+' || (7200 + abs(random()) % 36000) || ' seconds')"
                " || '.000000'"
            )
            pad = "substr('000000000' || n, -9, 9)"
        else:
            series = ""
            source = "generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g(n)"
            due = "now() + interval '2 hours' + random() * interval '10 hours'"
            pad = "lpad(n::text, 9, '0')"
        before = db.session.scalar(sa.text("SELECT coalesce(max(id), 0) FROM users"))
        db.session.execute(
            sa.text(
                f"{series}INSERT INTO users (name, email, phone, role, team_id, password_hash, on_call, "
                "active, created_at) "
                f"SELECT 'Load ' || n, 'load' || n || '{EMAIL_DOMAIN}', '+4479' || {pad}, 'practitioner', "
                f":team, '!', false, true, :at FROM {source}"
            ),
            {"lo": lo, "hi": hi, "team": team_id, "at": _stamp(now)},
        )
        db.session.execute(
            sa.text(
                "INSERT INTO visits (practitioner_id, team_id, status, address, checked_in_at, due_at, "
                "warnings) "
                f"SELECT u.id, :team, 'active', 'Load Road', :at, {due}, '[]' FROM users u "
                "WHERE u.id > :before AND u.team_id = :team"
            ),
            {"team": team_id, "at": _stamp(now), "before": before},
        )
        db.session.commit()
        have = active_load()
        if not quiet:
            print(f"  load: {have:,} active visits ({time.monotonic() - started:.0f} s)", flush=True)
    analyse()
    return time.monotonic() - started


def analyse() -> None:
    """Fresh planner statistics, as autovacuum would have after a bulk load."""
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


def drop_load() -> None:
    """Remove the background visits and their practitioners (the scratch database goes anyway)."""
    team = db.session.scalar(sa.text("SELECT id FROM teams WHERE name = :n"), {"n": TEAM_NAME})
    if team is None:
        return
    db.session.execute(sa.text("DELETE FROM visits WHERE team_id = :t"), {"t": team})
    db.session.execute(sa.text("DELETE FROM users WHERE team_id = :t"), {"t": team})
    db.session.execute(sa.text("DELETE FROM teams WHERE id = :t"), {"t": team})
    db.session.commit()
