"""The summary's figures from the rollups, with the months the rollups do not cover counted live.

`gather` gives the same numbers as the summary's direct queries (tests/reporting prove it on random
registers): counts add up exactly across months and teams, and the lag percentiles are found from
the bucket counts and then the few rows inside the bucket that holds each rank.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.extensions import db
from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Household, Marker
from safetycheck.incidents.models import Incident
from safetycheck.reporting import rollups
from safetycheck.reporting.figures_model import Figures
from safetycheck.reporting.models import (
    RollupMonthCount,
    RollupMonthHousehold,
    RollupMonthLag,
    RollupMonthReporter,
    RollupMonthVisit,
)
from safetycheck.reporting.summary import (
    LIST_LIMIT,
    Period,
    _incident_filter,
    _month,
    _month_name,
    _months,
    _sum,
    _visit_filter,
)
from safetycheck.visits.models import Visit

NO_BUCKET = rollups.NEGATIVE_BUCKET


def usable(user: User) -> bool:
    """Rollups hold whole teams: they serve leads, admins and managers, not a reporter's own list."""
    return user.role in (Role.HS_LEAD, Role.ADMIN) or (user.role == Role.MANAGER and user.team_id is not None)


def _team_ids(user: User, team_id: int | None) -> list[int] | None:
    teams = [user.team_id] if user.role == Role.MANAGER and user.team_id is not None else None
    if team_id is not None:
        teams = [t for t in teams if t == team_id] if teams is not None else [team_id]
    return teams


def gather(user: User, *, period: Period, now: datetime, team_id: int | None = None) -> Figures | None:
    """The figures for a summary, or None when this user's reach is not one the rollups hold."""
    if not usable(user):
        return None
    months = _months(period)
    plan = rollups.plan(period.start, period.end, months)
    teams = _team_ids(user, team_id)
    figures = Figures(plan=plan, as_of=now)
    incidents = _incident_filter(user, period, team_id)
    live = _live(Incident.occurred_at, plan)
    live_visits = _live(Visit.checked_in_at, plan)
    _counts(figures, teams, incidents, live)
    _visits(figures, teams, _visit_filter(user, period, team_id), live_visits)
    _lags(figures, teams, incidents, live)
    figures.lag = _percentiles(figures.lags, incidents)
    if teams is None:
        figures.households = _households(incidents, live, plan, now)
    else:
        figures.households = _team_households(incidents, now)
    figures.reporters = _reporters(teams, incidents, live, plan)
    return figures


def _live(column: Any, plan: rollups.Plan) -> sa.ColumnElement[bool] | None:
    if not plan.live:
        return None
    return sa.or_(*(sa.and_(column >= low, column < high) for low, high in plan.live))


def _counts(
    figures: Figures,
    teams: list[int] | None,
    incidents: list[sa.ColumnElement[bool]],
    live: sa.ColumnElement[bool] | None,
) -> None:
    table = RollupMonthCount
    if figures.plan.rolled:
        rows = db.session.execute(
            sa.select(
                table.month,
                table.team_id,
                table.category,
                sa.func.sum(table.incidents),
                sa.func.sum(table.near_misses),
                sa.func.sum(table.harmed),
                sa.func.sum(table.at_marked),
            )
            .where(table.month.in_(figures.plan.rolled), *rollups.team_clauses(table.team_id, teams))
            .group_by(table.month, table.team_id, table.category)
        )
        for month, team, category, *values in rows:
            _add(figures.counts, (month, team, category), values)
    if live is not None:
        month_expr = _month(Incident.occurred_at).label("month")
        category_name = sa.type_coerce(Incident.category, sa.String).label("category")
        rows = db.session.execute(
            sa.select(
                month_expr,
                Incident.team_id,
                category_name,
                sa.func.count(),
                _sum(Incident.near_miss.is_(True)),
                _sum(Incident.harmed.is_(True)),
                _sum(Incident.at_marked_household.is_(True)),
            )
            .where(*incidents, live)
            .group_by(month_expr, Incident.team_id, category_name)
        )
        for month, team, name, *values in rows:
            _add(figures.counts, (_month_name(month), team, name), values)


def _add(target: dict[Any, list[int]], key: Any, values: list[Any]) -> None:
    current = target.setdefault(key, [0] * len(values))
    for i, value in enumerate(values):
        current[i] += int(value)


def _visits(
    figures: Figures,
    teams: list[int] | None,
    visits: list[sa.ColumnElement[bool]],
    live: sa.ColumnElement[bool] | None,
) -> None:
    table = RollupMonthVisit
    if figures.plan.rolled:
        rows = db.session.execute(
            sa.select(table.month, table.team_id, sa.func.sum(table.visits))
            .where(table.month.in_(figures.plan.rolled), *rollups.team_clauses(table.team_id, teams))
            .group_by(table.month, table.team_id)
        )
        for month, team, count in rows:
            figures.visits[(month, team)] = figures.visits.get((month, team), 0) + int(count)
    if live is not None:
        month_expr = _month(Visit.checked_in_at).label("month")
        rows = db.session.execute(
            sa.select(month_expr, Visit.team_id, sa.func.count())
            .where(*visits, live)
            .group_by(month_expr, Visit.team_id)
        )
        for month, team, count in rows:
            key = (_month_name(month), team)
            figures.visits[key] = figures.visits.get(key, 0) + int(count)


def _lags(
    figures: Figures,
    teams: list[int] | None,
    incidents: list[sa.ColumnElement[bool]],
    live: sa.ColumnElement[bool] | None,
) -> None:
    table = RollupMonthLag
    counted: dict[int, int] = defaultdict(int)
    if figures.plan.rolled:
        for bucket, reports in db.session.execute(
            sa.select(table.bucket, sa.func.sum(table.reports))
            .where(table.month.in_(figures.plan.rolled), *rollups.team_clauses(table.team_id, teams))
            .group_by(table.bucket)
        ):
            counted[bucket] += int(reports)
    if live is not None:
        bucket_expr = rollups.lag_bucket(rollups.lag_seconds()).label("bucket")
        for bucket, reports in db.session.execute(
            sa.select(bucket_expr, sa.func.count())
            .where(*incidents, live, Incident.reported_at.is_not(None))
            .group_by(bucket_expr)
        ):
            counted[bucket] += int(reports)
    figures.lags = dict(sorted(counted.items()))


def _hours() -> Any:
    """Hours from the event to the report, exactly as the summary's direct query measures them."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.extract("epoch", Incident.reported_at - Incident.occurred_at) / 3600.0
    return (sa.func.julianday(Incident.reported_at) - sa.func.julianday(Incident.occurred_at)) * 24.0


class _Ranked:
    """The lags in order, read a rank at a time: the bucket that holds it, then rows inside it."""

    def __init__(self, buckets: dict[int, int], incidents: list[sa.ColumnElement[bool]]) -> None:
        self.buckets = buckets
        self.incidents = incidents
        self.seen: dict[int, float] = {}

    def __getitem__(self, rank: int) -> float:
        if rank not in self.seen:
            self._fetch(rank)
        return self.seen[rank]

    def _fetch(self, rank: int) -> None:
        below, found, count = 0, NO_BUCKET, 0
        for found, count in self.buckets.items():  # noqa: B007 (the bucket holding the rank)
            if rank < below + count:
                break
            below += count
        low, high = rollups.bucket_bounds(found)
        seconds = rollups.lag_seconds()
        bounds = [seconds >= low] if low is not None else []
        if high is not None:
            bounds.append(seconds < high)
        postgres = db.session.get_bind().dialect.name == "postgresql"
        # PostgreSQL: the indexed seconds, divided here as the direct query divides them (numeric
        # to double, then / 3600.0): the rows are read from the index alone, in its order.
        value = seconds if postgres else _hours()
        values = db.session.scalars(
            sa.select(value)
            .where(*self.incidents, Incident.reported_at.is_not(None), *bounds)
            .order_by(value)
            .offset(rank - below)
            .limit(2)
        ).all()
        for i, found_value in enumerate(values):
            if rank + i < below + count:
                self.seen[rank + i] = float(found_value) / 3600.0 if postgres else float(found_value)


def _percentiles(buckets: dict[int, int], incidents: list[sa.ColumnElement[bool]]) -> dict[str, Any]:
    """Median and 90th percentile, computed as PostgreSQL's percentile_cont or Python's statistics."""
    count = sum(buckets.values())
    median: float | None = None
    p90: float | None = None
    if count:
        ranked = _Ranked(buckets, incidents)
        if db.session.get_bind().dialect.name == "postgresql":
            median, p90 = _cont(ranked, count, 0.5), _cont(ranked, count, 0.9)
        else:
            half = count // 2
            median = ranked[half] if count % 2 else (ranked[half - 1] + ranked[half]) / 2
            if count > 1:  # statistics.quantiles(n=10, method="inclusive")[-1]
                j, delta = divmod(9 * (count - 1), 10)
                p90 = (ranked[j] * (10 - delta) + ranked[j + 1] * delta) / 10
            else:
                p90 = median
    return {
        "reports": count,
        "median": round(float(median), 2) if median is not None else None,
        "p90": round(float(p90), 2) if p90 is not None else None,
    }


def _cont(ranked: _Ranked, count: int, fraction: float) -> float:
    """percentile_cont: linear between the two rows either side of fraction * (count - 1)."""
    position = fraction * (count - 1)
    low, high = math.floor(position), math.ceil(position)
    first = ranked[low]
    if high == low:
        return first
    return first + (ranked[high] - first) * (position - low)


def _households(
    incidents: list[sa.ColumnElement[bool]],
    live: sa.ColumnElement[bool] | None,
    plan: rollups.Plan,
    now: datetime,
) -> list[dict[str, Any]]:
    """Repeat households across every team, as `summary._repeat_households` answers them."""
    found: dict[int | None, list[Any]] = {}
    table = RollupMonthHousehold
    if plan.rolled:
        for household, n, last in db.session.execute(
            sa.select(table.household_id, sa.func.sum(table.incidents), sa.func.max(table.last_occurred_at))
            .where(table.month.in_(plan.rolled))
            .group_by(table.household_id)
        ):
            found[household] = [int(n), last]
    if live is not None:
        for place, n, last in db.session.execute(
            sa.select(Incident.household_id, sa.func.count(), sa.func.max(Incident.occurred_at))
            .where(*incidents, live, Incident.household_id.is_not(None))
            .group_by(Incident.household_id)
        ):
            entry = found.setdefault(place, [0, last])
            entry[0] += int(n)
            entry[1] = max(entry[1], last)
    top = sorted(
        ((n, h, last) for h, (n, last) in found.items() if n >= 2 and h is not None),
        key=lambda r: (-r[0], r[1]),
    )
    top = top[:LIST_LIMIT]
    return _with_addresses(top, now)


def _team_households(incidents: list[sa.ColumnElement[bool]], now: datetime) -> list[dict[str, Any]]:
    """One team's repeat households, counted from its incidents (few), the addresses for the top 50.

    As `summary._repeat_households`, without joining every incident to its household first.
    """
    count = sa.func.count().label("incidents")
    rows = db.session.execute(
        sa.select(Incident.household_id, count, sa.func.max(Incident.occurred_at))
        .where(*incidents, Incident.household_id.is_not(None))
        .group_by(Incident.household_id)
        .having(sa.func.count() >= 2)
        .order_by(count.desc(), Incident.household_id)
        .limit(LIST_LIMIT)
    ).all()
    return _with_addresses([(n, h, last) for h, n, last in rows if h is not None], now)


def _with_addresses(top: list[tuple[int, int, datetime]], now: datetime) -> list[dict[str, Any]]:
    ids = [h for _, h, _ in top]
    addresses = dict(
        db.session.execute(
            sa.select(Household.id, Household.display_address).where(Household.id.in_(ids))
        ).all()
    )
    in_force = dict(
        db.session.execute(
            sa.select(Marker.household_id, sa.func.count())
            .where(Marker.household_id.in_(ids), Marker.status == MarkerStatus.ACTIVE, Marker.review_at > now)
            .group_by(Marker.household_id)
        ).all()
    )
    return [
        {
            "household_id": h,
            "address": addresses.get(h),
            "incidents": n,
            "last_occurred_at": last,
            "active_markers": in_force.get(h, 0),
        }
        for n, h, last in top
    ]


def _reporters(
    teams: list[int] | None,
    incidents: list[sa.ColumnElement[bool]],
    live: sa.ColumnElement[bool] | None,
    plan: rollups.Plan,
) -> list[dict[str, Any]]:
    found: dict[int, int] = defaultdict(int)
    table = RollupMonthReporter
    if plan.rolled:
        for reporter, n in db.session.execute(
            sa.select(table.reporter_id, sa.func.sum(table.incidents))
            .where(table.month.in_(plan.rolled), *rollups.team_clauses(table.team_id, teams))
            .group_by(table.reporter_id)
        ):
            found[reporter] += int(n)
    if live is not None:
        for reporter, n in db.session.execute(
            sa.select(Incident.reporter_id, sa.func.count())
            .where(*incidents, live)
            .group_by(Incident.reporter_id)
        ):
            found[reporter] += int(n)
    top = sorted(((n, r) for r, n in found.items() if n >= 2), key=lambda row: (-row[0], row[1]))[:LIST_LIMIT]
    names = dict(
        db.session.execute(sa.select(User.id, User.name).where(User.id.in_([r for _, r in top]))).all()
    )
    return [{"reporter_id": r, "reporter": names[r], "incidents": n} for n, r in top]
