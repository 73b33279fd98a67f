"""What a health-and-safety lead reads: counts, rates, reporting-culture signals, deadlines.

Rates use the visit log as the exposure (incidents per 1,000 check-ins in the same period and
reach). Months are calendar months in UTC. Drafts are not reports and are left out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Household, Marker
from safetycheck.incidents import reach, riddor_track, workflow
from safetycheck.incidents.enums import ActionStatus, IncidentStatus, RiddorState
from safetycheck.incidents.models import Incident, IncidentAction, IncidentRiddor
from safetycheck.visits.models import Visit

if TYPE_CHECKING:
    from safetycheck.reporting.figures_model import Figures

LIST_LIMIT = 50
SILENT_MIN_VISITS = 20  # a team with this many visits and no report at all is worth a question


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive


def default_period(now: datetime) -> Period:
    """The last twelve calendar months, this one included."""
    month = now.year * 12 + now.month - 1 - 11
    return Period(datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC), now)


def rate(count: int, visits: int) -> float | None:
    return round(count * 1000 / visits, 1) if visits else None


def summarise(
    user: User,
    *,
    period: Period,
    now: datetime,
    team_id: int | None = None,
    silent_min_visits: int = SILENT_MIN_VISITS,
    figures: Figures | None = None,
) -> dict[str, Any]:
    """The summary; from `figures` (the rollups, `reporting.figures.gather`) when given, else direct.

    Both give the same numbers; the direct queries scan the period, the rollups do not.
    """
    incidents = _incident_filter(user, period, team_id)
    visits = _visit_filter(user, period, team_id)
    if figures is None:
        months = _by_month(incidents, visits, period)
        team_counts = _team_counts(incidents, visits)
    else:
        months = _months_from(figures, period)
        team_counts = _team_counts_from(figures)
    totals = {name: sum(m[name] for m in months) for name in ("incidents", "near_misses", "harmed", "visits")}
    teams = _teams(user, team_id)
    answer = {
        "period": {"from": period.start, "to": period.end},
        "totals": {
            **totals,
            "rate_per_1000_visits": rate(totals["incidents"], totals["visits"]),
            "at_marked_households": sum(m.pop("at_marked_households") for m in months),
        },
        "near_miss_to_harm_ratio": round(totals["near_misses"] / totals["harmed"], 2)
        if totals["harmed"]
        else None,
        "reporting_lag_hours": _lag(incidents) if figures is None else figures.lag,
        "by_month": months,
        "by_category": _by_category(incidents) if figures is None else _categories_from(figures),
        "by_team": _by_team(teams, team_counts),
        "silent_teams": _silent_teams(teams, team_counts, silent_min_visits),
        "repeat_households": _repeat_households(incidents, now) if figures is None else figures.households,
        "repeat_reporters": _repeat_reporters(incidents) if figures is None else figures.reporters,
        "riddor_open": _riddor_open(user, team_id, now),
        "overdue": _overdue(user, team_id, now),
        "markers_due_for_review": _markers_due(user, team_id, now),
    }
    if figures is not None:
        answer["freshness"] = figures.freshness()
    return answer


def _months_from(figures: Figures, period: Period) -> list[dict[str, Any]]:
    """`_by_month`'s rows from gathered figures."""
    counted: dict[str, list[int]] = {}
    for (month, _, _), values in figures.counts.items():
        current = counted.setdefault(month, [0, 0, 0, 0])
        for i, value in enumerate(values):
            current[i] += value
    exposure: dict[str, int] = {}
    for (month, _), count in figures.visits.items():
        exposure[month] = exposure.get(month, 0) + count
    result = []
    for name in _months(period):
        count, near, harmed, marked = counted.get(name, [0, 0, 0, 0])
        result.append(
            {
                "month": name,
                "incidents": count,
                "near_misses": near,
                "harmed": harmed,
                "visits": exposure.get(name, 0),
                "rate_per_1000_visits": rate(count, exposure.get(name, 0)),
                "at_marked_households": marked,
            }
        )
    return result


def _team_counts_from(figures: Figures) -> tuple[dict[int | None, Any], dict[int, int]]:
    """`_team_counts`'s two maps from gathered figures: (team, incidents, near misses) and visits."""
    counted: dict[int | None, Any] = {}
    for (_, team, _), values in figures.counts.items():
        row = counted.setdefault(team, [team, 0, 0])
        row[1] += values[0]
        row[2] += values[1]
    exposure: dict[int, int] = {}
    for (_, team), count in figures.visits.items():
        if team is not None:
            exposure[team] = exposure.get(team, 0) + count
    return counted, exposure


def _categories_from(figures: Figures) -> list[dict[str, Any]]:
    counted: dict[str | None, list[int]] = {}
    for (_, _, category), values in figures.counts.items():
        row = counted.setdefault(category, [0, 0])
        row[0] += values[0]
        row[1] += values[1]
    # As the database orders them: most first, then by name (NULL last on PostgreSQL, first on SQLite).
    nulls_last = db.session.get_bind().dialect.name == "postgresql"
    order = sorted(counted, key=lambda c: (-counted[c][0], (c is None) == nulls_last, c or ""))
    return [{"category": str(c), "incidents": counted[c][0], "near_misses": counted[c][1]} for c in order]


def _incident_filter(user: User, period: Period, team_id: int | None) -> list[sa.ColumnElement[bool]]:
    clauses = [
        reach.reach_clause(user),
        Incident.status != IncidentStatus.DRAFT,
        Incident.occurred_at >= period.start,
        Incident.occurred_at < period.end,
    ]
    if team_id is not None:
        clauses.append(Incident.team_id == team_id)
    return clauses


def _visit_filter(user: User, period: Period, team_id: int | None) -> list[sa.ColumnElement[bool]]:
    clauses = [Visit.checked_in_at >= period.start, Visit.checked_in_at < period.end]
    if user.role == Role.MANAGER:
        clauses.append(Visit.team_id == user.team_id)
    elif user.role == Role.PRACTITIONER:
        clauses.append(Visit.practitioner_id == user.id)
    if team_id is not None:
        clauses.append(Visit.team_id == team_id)
    return clauses


def _sum(condition: sa.ColumnElement[bool]) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _month(column: Any) -> Any:
    """The UTC calendar month of a timestamp, as a value `_month_name` turns into "2026-03"."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.date_trunc("month", sa.func.timezone("UTC", column))
    return sa.func.strftime("%Y-%m", column)


def _month_name(value: Any) -> str:
    return value if isinstance(value, str) else f"{value.year:04d}-{value.month:02d}"


def _months(period: Period) -> list[str]:
    months = []
    index = period.start.year * 12 + period.start.month - 1
    end = period.end - timedelta(microseconds=1)  # an end at midnight on the 1st closes the month before
    last = end.year * 12 + end.month - 1
    while index <= last:
        months.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
        index += 1
    return months


def _by_month(
    incidents: list[sa.ColumnElement[bool]], visits: list[sa.ColumnElement[bool]], period: Period
) -> list[dict[str, Any]]:
    month = _month(Incident.occurred_at).label("month")
    counted = {
        _month_name(row.month): row
        for row in db.session.execute(
            sa.select(
                month,
                sa.func.count().label("incidents"),
                _sum(Incident.near_miss.is_(True)).label("near_misses"),
                _sum(Incident.harmed.is_(True)).label("harmed"),
                _sum(Incident.at_marked_household.is_(True)).label("at_marked"),
            )
            .where(*incidents)
            .group_by(month)
        )
    }
    visit_month = _month(Visit.checked_in_at).label("month")
    exposure = {
        _month_name(name): count
        for name, count in db.session.execute(
            sa.select(visit_month, sa.func.count()).where(*visits).group_by(visit_month)
        )
    }
    result = []
    for name in _months(period):
        row = counted.get(name)
        count = row.incidents if row else 0
        result.append(
            {
                "month": name,
                "incidents": count,
                "near_misses": int(row.near_misses) if row else 0,
                "harmed": int(row.harmed) if row else 0,
                "visits": exposure.get(name, 0),
                "rate_per_1000_visits": rate(count, exposure.get(name, 0)),
                "at_marked_households": int(row.at_marked) if row else 0,
            }
        )
    return result


def _by_category(incidents: list[sa.ColumnElement[bool]]) -> list[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(Incident.category, sa.func.count(), _sum(Incident.near_miss.is_(True)))
        .where(*incidents)
        .group_by(Incident.category)
        .order_by(sa.func.count().desc(), Incident.category)
    )
    return [{"category": str(c), "incidents": n, "near_misses": int(nm)} for c, n, nm in rows]


def _teams(user: User, team_id: int | None) -> list[Team]:
    query = sa.select(Team).order_by(Team.name)
    if user.role == Role.MANAGER:
        query = query.where(Team.id == user.team_id)
    if team_id is not None:
        query = query.where(Team.id == team_id)
    return list(db.session.scalars(query))


def _team_counts(
    incidents: list[sa.ColumnElement[bool]], visits: list[sa.ColumnElement[bool]]
) -> tuple[dict[int | None, Any], dict[int, int]]:
    counted = {
        row[0]: row
        for row in db.session.execute(
            sa.select(Incident.team_id, sa.func.count(), _sum(Incident.near_miss.is_(True)))
            .where(*incidents)
            .group_by(Incident.team_id)
        )
    }
    exposure = dict(
        db.session.execute(
            sa.select(Visit.team_id, sa.func.count()).where(*visits).group_by(Visit.team_id)
        ).all()
    )
    return counted, exposure


def _by_team(teams: list[Team], counts: tuple[dict[int | None, Any], dict[int, int]]) -> list[dict[str, Any]]:
    counted, exposure = counts
    result = []
    for team in teams:
        row = counted.get(team.id)
        count = row[1] if row else 0
        result.append(
            {
                "team_id": team.id,
                "team": team.name,
                "incidents": count,
                "near_misses": int(row[2]) if row else 0,
                "visits": exposure.get(team.id, 0),
                "rate_per_1000_visits": rate(count, exposure.get(team.id, 0)),
            }
        )
    return result


def _silent_teams(
    teams: list[Team], counts: tuple[dict[int | None, Any], dict[int, int]], min_visits: int
) -> list[dict[str, Any]]:
    """Teams that visit a lot and report nothing: under-reporting, rarely a safe patch."""
    counted, exposure = counts
    return [
        {"team_id": team.id, "team": team.name, "visits": exposure.get(team.id, 0)}
        for team in teams
        if team.id not in counted and exposure.get(team.id, 0) >= max(min_visits, 1)
    ]


def _lag(incidents: list[sa.ColumnElement[bool]]) -> dict[str, Any]:
    """Hours from the event to the report; a long lag says people hesitate to report."""
    if db.session.get_bind().dialect.name == "postgresql":
        hours = sa.extract("epoch", Incident.reported_at - Incident.occurred_at) / 3600.0
        row = db.session.execute(
            sa.select(
                sa.func.count(hours),
                sa.func.percentile_cont(0.5).within_group(hours),
                sa.func.percentile_cont(0.9).within_group(hours),
            ).where(*incidents, Incident.reported_at.is_not(None))
        ).one()
        count, median, p90 = row
    else:
        hours = (sa.func.julianday(Incident.reported_at) - sa.func.julianday(Incident.occurred_at)) * 24.0
        values = sorted(
            float(v)
            for v in db.session.scalars(sa.select(hours).where(*incidents, Incident.reported_at.is_not(None)))
        )
        count = len(values)
        median = statistics.median(values) if values else None
        p90 = statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else median
    return {
        "reports": int(count or 0),
        "median": round(float(median), 2) if median is not None else None,
        "p90": round(float(p90), 2) if p90 is not None else None,
    }


def _repeat_households(incidents: list[sa.ColumnElement[bool]], now: datetime) -> list[dict[str, Any]]:
    count = sa.func.count().label("incidents")
    rows = db.session.execute(
        sa.select(Incident.household_id, Household.display_address, count, sa.func.max(Incident.occurred_at))
        .join(Household, Household.id == Incident.household_id)
        .where(*incidents)
        .group_by(Incident.household_id, Household.display_address)
        .having(sa.func.count() >= 2)
        .order_by(count.desc(), Incident.household_id)
        .limit(LIST_LIMIT)
    ).all()
    # Looked up by Incident.household_id (int | None to the type checker; never None after the join).
    in_force: dict[int | None, int] = dict(
        db.session.execute(
            sa.select(Marker.household_id, sa.func.count())
            .where(
                Marker.household_id.in_([row[0] for row in rows]),
                Marker.status == MarkerStatus.ACTIVE,
                Marker.review_at > now,
            )
            .group_by(Marker.household_id)
        ).all()
    )
    return [
        {
            "household_id": household_id,
            "address": address,
            "incidents": n,
            "last_occurred_at": last,
            "active_markers": in_force.get(household_id, 0),
        }
        for household_id, address, n, last in rows
    ]


def _repeat_reporters(incidents: list[sa.ColumnElement[bool]]) -> list[dict[str, Any]]:
    count = sa.func.count().label("incidents")
    rows = db.session.execute(
        sa.select(Incident.reporter_id, User.name, count)
        .join(User, User.id == Incident.reporter_id)
        .where(*incidents)
        .group_by(Incident.reporter_id, User.name)
        .having(sa.func.count() >= 2)
        .order_by(count.desc(), Incident.reporter_id)
        .limit(LIST_LIMIT)
    )
    return [{"reporter_id": rid, "reporter": name, "incidents": n} for rid, name, n in rows]


def _reach_and_team(user: User, team_id: int | None) -> list[sa.ColumnElement[bool]]:
    clauses = [reach.reach_clause(user), Incident.status != IncidentStatus.DRAFT]
    if team_id is not None:
        clauses.append(Incident.team_id == team_id)
    return clauses


def _riddor_open(user: User, team_id: int | None, now: datetime) -> list[dict[str, Any]]:
    """Cases with a reporting deadline not yet met, soonest first, whenever they happened."""
    rows = db.session.execute(
        sa.select(Incident.id, Incident.occurred_at, IncidentRiddor)
        .join(IncidentRiddor, IncidentRiddor.incident_id == Incident.id)
        .where(
            *_reach_and_team(user, team_id),
            Incident.riddor_state.in_((RiddorState.PENDING, RiddorState.REPORTABLE)),
        )
        .order_by(IncidentRiddor.report_by, Incident.id)
        .limit(LIST_LIMIT)
    ).all()
    return [
        {
            "incident_id": incident_id,
            "occurred_at": occurred_at,
            "classification": str(row.classification),
            "report_by": row.report_by,
            "days_left": riddor_track.days_left(row, now=now),
        }
        for incident_id, occurred_at, row in rows
    ]


def _overdue(user: User, team_id: int | None, now: datetime) -> dict[str, Any]:
    """Procedure steps and actions past their targets, with the oldest first."""
    late = [
        *_reach_and_team(user, team_id),
        Incident.status.in_(workflow.OPEN_STATUSES),
        Incident.step_due_at < now,
    ]
    steps = db.session.execute(
        sa.select(Incident.id, Incident.status, Incident.step_due_at)
        .where(*late)
        .order_by(Incident.step_due_at, Incident.id)
        .limit(LIST_LIMIT)
    ).all()
    actions = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(IncidentAction)
        .join(Incident, Incident.id == IncidentAction.incident_id)
        .where(
            *_reach_and_team(user, team_id),
            IncidentAction.status == ActionStatus.OPEN,
            IncidentAction.due_at < now,
        )
    )
    return {
        "steps": db.session.scalar(sa.select(sa.func.count()).where(*late)) or 0,
        "actions": actions or 0,
        "items": [
            {
                "incident_id": incident_id,
                "status": str(status),
                "due_at": due_at,
                "overdue_hours": round((now - due_at).total_seconds() / 3600, 1),
            }
            for incident_id, status, due_at in steps
            if due_at is not None  # always: `step_due_at < now` excludes NULL
        ],
    }


def _markers_due(user: User, team_id: int | None, now: datetime) -> list[dict[str, Any]]:
    query = marker_service.due_for_review(marker_service.visible_markers(user), now=now)
    if team_id is not None:
        query = query.where(Marker.team_id == team_id)
    return [
        {
            "marker_id": marker.id,
            "household_id": marker.household_id,
            "address": marker.household.display_address,
            "review_at": marker.review_at,
        }
        for marker in db.session.scalars(query.order_by(Marker.review_at, Marker.id).limit(LIST_LIMIT))
    ]
