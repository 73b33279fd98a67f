"""The register's rollups: monthly counts the summary reads instead of scanning a million incidents.

What is kept, per UTC calendar month (tables in `reporting.models`):
- reported incidents per team and category, with near misses, harmed and at marked households;
- reports per team and reporting-lag bucket (hours for the first week, then days, see
  `bucket_bounds`), from which the percentiles are found exactly (the bucket holding the rank,
  then the few rows inside it, through an index on the lag);
- check-ins per team (the exposure), incidents per household (all teams) and per reporter.

Freshness: a month is rolled up ("sealed") by the `reporting.rollups` sweep part once it has
ended (plus `GRACE`); until then it is counted live. An incident written into a sealed month
(reported late, a draft confirmed, a date corrected) marks that month dirty in the same
transaction, so the summary counts it live until the part has rebuilt it, normally at the next
sweep. The summary is therefore exact as of the moment it is asked for; check-ins are not
tracked (they are always stamped now, in the month being counted live).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safetycheck.engine.parts import DELIVERY, sweep_part
from safetycheck.extensions import db
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident
from safetycheck.reporting.models import (
    RollupDirty,
    RollupMonthCount,
    RollupMonthHousehold,
    RollupMonthLag,
    RollupMonthReporter,
    RollupMonthVisit,
    RollupState,
)
from safetycheck.visits.models import Visit

GRACE = timedelta(minutes=10)  # a month is sealed this long after it ends: late commits land first
MONTHS_PER_CALL = 1  # months rebuilt a sweep
DIRTY_PER_CALL = 1000
STATE_ID = 1
ROLLUPS = (RollupMonthCount, RollupMonthLag, RollupMonthVisit, RollupMonthHousehold, RollupMonthReporter)

HOUR = 3600
DAY = 86400
WEEK = 168 * HOUR
YEAR = 365 * DAY
NEGATIVE_BUCKET = -1  # reported before it occurred: a typing slip, kept so counts stay whole
DAILY_FROM = 168  # buckets 0-167 are hours, then days up to a year
OVER_A_YEAR = 100_000

# Incident fields the rollups read: a change to one of them makes its month (old and new) dirty.
TRACKED = (
    "category",
    "near_miss",
    "harmed",
    "occurred_at",
    "reported_at",
    "team_id",
    "household_id",
    "reporter_id",
    "at_marked_household",
)


def month_of(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{moment.year:04d}-{moment.month:02d}"


def month_start(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=UTC)


def month_after(month: str) -> str:
    start = month_start(month)
    index = start.year * 12 + start.month  # the next month, zero-based
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def bucket_bounds(bucket: int) -> tuple[float | None, float | None]:
    """The lag in seconds a bucket holds, [low, high); None: unbounded."""
    if bucket == NEGATIVE_BUCKET:
        return None, 0
    if bucket < DAILY_FROM:
        return bucket * HOUR, (bucket + 1) * HOUR
    if bucket == OVER_A_YEAR:
        return YEAR, None
    return WEEK + (bucket - DAILY_FROM) * DAY, WEEK + (bucket - DAILY_FROM + 1) * DAY


def lag_seconds() -> Any:
    """Seconds from the event to the report, as the summary and the charts measure it."""
    if db.session.get_bind().dialect.name == "postgresql":
        # The expression of the index ix_incidents_report_lag: keep them the same.
        return sa.extract("epoch", Incident.reported_at - Incident.occurred_at)
    # julianday is a float of days: an hour comes back as 3599.99... s, so round to the second.
    days = sa.func.julianday(Incident.reported_at) - sa.func.julianday(Incident.occurred_at)
    return sa.func.round(days * 86400.0)


def _floor(value: Any) -> Any:
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.floor(value), sa.Integer)
    return sa.cast(value, sa.Integer)  # only ever given values >= 0: truncation is the floor


def lag_bucket(seconds: Any) -> Any:
    return sa.case(
        (seconds < 0, NEGATIVE_BUCKET),
        (seconds < WEEK, _floor(seconds / HOUR)),
        (seconds < YEAR, DAILY_FROM + _floor((seconds - WEEK) / DAY)),
        else_=OVER_A_YEAR,
    )


def _sum(condition: sa.ColumnElement[bool]) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# --- keeping them --------------------------------------------------------------------------------


def _mark_dirty(session: Session, flush_context: Any, instances: Any) -> None:
    """Before a flush: note the months an incident write changes, in the same transaction."""
    months: set[str] = set()
    for obj in session.new:
        if isinstance(obj, Incident) and obj.occurred_at is not None:
            months.add(month_of(obj.occurred_at))
    for obj in session.deleted:
        if isinstance(obj, Incident):
            history = sa.inspect(obj).attrs.occurred_at.history
            for value in (*history.deleted, *history.unchanged, obj.occurred_at):
                if value is not None:
                    months.add(month_of(value))
    for obj in session.dirty:
        if isinstance(obj, Incident):
            months |= _changed_months(obj)
    for month in sorted(months):
        session.add(RollupDirty(month=month))


def _changed_months(incident: Incident) -> set[str]:
    attrs = sa.inspect(incident).attrs
    status = attrs.status.history
    drafting = status.has_changes() and IncidentStatus.DRAFT in (*status.added, *status.deleted)
    if not drafting and not any(attrs[name].history.has_changes() for name in TRACKED):
        return set()
    months = {month_of(v) for v in attrs.occurred_at.history.deleted if v is not None}
    if incident.occurred_at is not None:
        months.add(month_of(incident.occurred_at))
    return months


sa.event.listen(Session, "before_flush", _mark_dirty)


def _state_for_update() -> RollupState | None:
    """The state row, locked; None when another process holds it (it is refreshing now)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(RollupState).values(id=STATE_ID).on_conflict_do_nothing())
    return db.session.scalar(
        sa.select(RollupState).where(RollupState.id == STATE_ID).with_for_update(skip_locked=True)
    )


def _earliest_month() -> str | None:
    first = [
        db.session.scalar(sa.select(sa.func.min(Incident.occurred_at))),
        db.session.scalar(sa.select(sa.func.min(Visit.checked_in_at))),
    ]
    found = [moment for moment in first if moment is not None]
    return month_of(min(found)) if found else None


# After the delivery of texts, one month a sweep: a rebuild (about a second at a million
# incidents) never holds back a text, and a first build over years spreads over a few sweeps.
@sweep_part("reporting.rollups", stage=DELIVERY + 5)
def refresh_rollups(session: Any, now: datetime) -> int:
    """Rebuild a dirty month, or else seal the next ended one; returns the months rebuilt (0 or 1)."""
    state = _state_for_update()
    if state is None:
        return 0
    target = _month_before(month_of(now - GRACE))  # the last month that has ended
    sealed = state.sealed_through
    dirty = db.session.execute(sa.select(RollupDirty.id, RollupDirty.month).limit(DIRTY_PER_CALL)).all()
    stale = sorted({m for _, m in dirty if sealed is not None and m <= sealed})
    chosen = stale[:MONTHS_PER_CALL]
    for month in chosen:
        rebuild_month(month)
    # Marks of the months rebuilt, and of months not sealed yet (their build will read the rows);
    # only the marks read: a month marked since stays dirty and is counted live until next time.
    done = [i for i, m in dirty if m in chosen or sealed is None or m > sealed]
    if done:
        db.session.execute(sa.delete(RollupDirty).where(RollupDirty.id.in_(done)))
    rebuilt = len(chosen)
    if sealed is None:  # a first build (or a rebuild asked for by deleting the state): start clean
        for table in ROLLUPS:
            db.session.execute(sa.delete(table))
    following = month_after(sealed) if sealed is not None else _earliest_month()
    while following is not None and following <= target and rebuilt < MONTHS_PER_CALL:
        rebuild_month(following)
        state.sealed_through = sealed = following
        following = month_after(following)
        rebuilt += 1
    if sealed is None and following is None:
        state.sealed_through = target  # an empty register: nothing before now to count
    if rebuilt or done or state.refreshed_at is None or now - state.refreshed_at >= timedelta(minutes=1):
        state.refreshed_at = now
    db.session.flush()
    return rebuilt


def _month_before(month: str) -> str:
    start = month_start(month)
    index = start.year * 12 + start.month - 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def rebuild_month(month: str) -> None:
    """Count one month again from the incidents and visits, for every team."""
    start, end = month_start(month), month_start(month_after(month))
    for table in ROLLUPS:
        db.session.execute(sa.delete(table).where(table.month == month))
    reported = [
        Incident.status != IncidentStatus.DRAFT,
        Incident.occurred_at >= start,
        Incident.occurred_at < end,
    ]
    label = sa.literal(month, sa.String(7))
    _insert(
        RollupMonthCount,
        ("month", "team_id", "category", "incidents", "near_misses", "harmed", "at_marked"),
        sa.select(
            label,
            Incident.team_id,
            sa.type_coerce(Incident.category, sa.String),
            sa.func.count(),
            _sum(Incident.near_miss.is_(True)),
            _sum(Incident.harmed.is_(True)),
            _sum(Incident.at_marked_household.is_(True)),
        )
        .where(*reported)
        .group_by(Incident.team_id, Incident.category),
    )
    bucket = lag_bucket(lag_seconds())
    _insert(
        RollupMonthLag,
        ("month", "team_id", "bucket", "reports"),
        sa.select(label, Incident.team_id, bucket, sa.func.count())
        .where(*reported, Incident.reported_at.is_not(None))
        .group_by(Incident.team_id, bucket),
    )
    _insert(
        RollupMonthHousehold,
        ("month", "household_id", "incidents", "last_occurred_at"),
        sa.select(label, Incident.household_id, sa.func.count(), sa.func.max(Incident.occurred_at))
        .where(*reported, Incident.household_id.is_not(None))
        .group_by(Incident.household_id),
    )
    _insert(
        RollupMonthReporter,
        ("month", "team_id", "reporter_id", "incidents"),
        sa.select(label, Incident.team_id, Incident.reporter_id, sa.func.count())
        .where(*reported)
        .group_by(Incident.team_id, Incident.reporter_id),
    )
    _insert(
        RollupMonthVisit,
        ("month", "team_id", "visits"),
        sa.select(label, Visit.team_id, sa.func.count())
        .where(Visit.checked_in_at >= start, Visit.checked_in_at < end)
        .group_by(Visit.team_id),
    )


def _insert(model: Any, columns: Iterable[str], query: Any) -> None:
    table = model.__table__
    db.session.execute(sa.insert(table).from_select([table.c[name] for name in columns], query))


# --- reading them --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Which months of a period come from the rollups and which are counted live (and over when)."""

    rolled: list[str]
    live: list[tuple[datetime, datetime]]  # [from, to) ranges inside the period
    sealed_through: str | None
    refreshed_at: datetime | None


def plan(start: datetime, end: datetime, months: list[str]) -> Plan:
    """Whole months sealed and clean come from the rollups; the period's edges and the rest live."""
    state = db.session.get(RollupState, STATE_ID)
    sealed = state.sealed_through if state else None
    dirty = set(db.session.scalars(sa.select(RollupDirty.month).distinct()))
    rolled: list[str] = []
    live: list[tuple[datetime, datetime]] = []
    for month in months:
        low, high = month_start(month), month_start(month_after(month))
        whole = start <= low and high <= end
        if whole and sealed is not None and month <= sealed and month not in dirty:
            rolled.append(month)
            continue
        span = (max(low, start), min(high, end))
        if live and live[-1][1] == span[0]:
            live[-1] = (live[-1][0], span[1])  # one range for neighbouring months
        else:
            live.append(span)
    return Plan(rolled, live, sealed, state.refreshed_at if state else None)


def team_clauses(column: Any, team_ids: list[int] | None) -> list[sa.ColumnElement[bool]]:
    """The reach over a rollup's team column: every team (None), or the listed ones."""
    return [] if team_ids is None else [column.in_(team_ids)]
