"""The daily coverage check: which teams have nobody their overdue ladder can reach this week.

A sweep part that does its real work once per local day, at the first sweep from
`DAILY_CHECK_HOUR` on (so that admins' texts do not arrive at midnight). A unique row per day
lets exactly one sweeper do it, however many run. The result is stored (`cover_checks`,
`cover_gaps`) for /admin and /metrics to read, and admins are texted once per team and day
(the same alert a check-in without cover sends, so they hear of a team once, whichever comes
first).

On call changes hands during the week (the rota, `accounts/rota.py`), so `_gaps` walks the
rota's schedule and records each stretch in which nobody reachable is on call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import IntegrityError

from safetycheck import localtime
from safetycheck.accounts import rota
from safetycheck.accounts.models import Team
from safetycheck.engine.parts import PERIODIC, sweep_part
from safetycheck.escalation import coverage
from safetycheck.escalation.coverage_models import CoverCheck, CoverGap
from safetycheck.escalation.enums import RecipientGroup
from safetycheck.escalation.policy import Policy
from safetycheck.extensions import db

HORIZON = timedelta(days=7)
DAILY_CHECK_HOUR = 7  # local time: the check runs at the first sweep from 07:00
KEEP_CHECKS = timedelta(days=90)


@sweep_part("escalation.check_cover", stage=PERIODIC, order=20)
def check_cover_daily(session: Any, now: datetime) -> int:
    """Once a day, record the teams without cover in the coming week; returns the teams checked."""
    local = now.astimezone(localtime.local_zone())
    if local.hour < DAILY_CHECK_HOUR:
        return 0
    day = local.date()
    if db.session.scalar(sa.select(CoverCheck.id).where(CoverCheck.day == day)) is not None:
        return 0  # the cheap answer at every other sweep of the day
    check = CoverCheck(day=day, checked_at=now, horizon_until=now + HORIZON, teams_checked=0)
    try:
        with db.session.begin_nested():
            db.session.add(check)
            db.session.flush()
    except IntegrityError:
        return 0  # another sweeper took today's check
    rules: Policy = current_app.extensions["safetycheck.policy"]
    teams = list(db.session.scalars(sa.select(Team).order_by(Team.id)))
    counts = coverage.manager_counts()
    for team in teams:
        for starts_at, ends_at in _gaps(
            team.id, now=now, until=check.horizon_until, rules=rules, counts=counts
        ):
            reason = coverage.reason_for(team.id, rules, counts)
            db.session.add(
                CoverGap(
                    check_id=check.id, team_id=team.id, starts_at=starts_at, ends_at=ends_at, reason=reason
                )
            )
            coverage.alert_admins(team.id, reason=reason, now=now, source="daily_check")
    check.teams_checked = len(teams)
    _forget_before(day - KEEP_CHECKS)
    db.session.flush()
    return len(teams)


def _gaps(
    team_id: int, *, now: datetime, until: datetime, rules: Policy, counts: dict[int, coverage.ManagerCount]
) -> list[tuple[datetime, datetime]]:
    """Periods between now and `until` when the team's overdue ladder reaches nobody who can act."""
    firsts = coverage.first_steps(rules)
    count = counts.get(team_id)
    if RecipientGroup.TEAM_MANAGERS in firsts and count is not None and count.deliverable:
        return []  # managers count as always on duty
    if RecipientGroup.ON_CALL not in firsts:
        return [(now, until)]
    # The rota changes hands during the week: each stretch with the same people on call is a gap
    # when none of them can be texted (inactive, or a number Twilio refused).
    return [
        (period.starts_at, period.ends_at)
        for period in rota.schedule(now, until, team_id=team_id)
        if not any(user.active and user.phone_undeliverable_at is None for user in period.people)
    ]


def _forget_before(day: date) -> None:
    old = sa.select(CoverCheck.id).where(CoverCheck.day < day)
    db.session.execute(sa.delete(CoverGap).where(CoverGap.check_id.in_(old)))
    db.session.execute(sa.delete(CoverCheck).where(CoverCheck.day < day))


# --- reading the stored result (pages, metrics) ------------------------------------------------


@dataclass(frozen=True)
class TeamGap:
    team_id: int
    team_name: str
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True)
class CoverReport:
    day: date
    checked_at: datetime
    horizon_until: datetime
    teams_checked: int
    gaps: list[TeamGap]

    @property
    def team_ids(self) -> set[int]:
        return {gap.team_id for gap in self.gaps}


def latest_report() -> CoverReport | None:
    """The most recent daily check and its gaps, or None before the first one (two queries)."""
    check = db.session.scalar(sa.select(CoverCheck).order_by(CoverCheck.day.desc()).limit(1))
    if check is None:
        return None
    rows = db.session.execute(
        sa.select(CoverGap, Team.name)
        .join(Team, Team.id == CoverGap.team_id)
        .where(CoverGap.check_id == check.id)
        .order_by(Team.name, CoverGap.starts_at)
    ).all()
    gaps = [TeamGap(gap.team_id, name, gap.starts_at, gap.ends_at, gap.reason) for gap, name in rows]
    return CoverReport(check.day, check.checked_at, check.horizon_until, check.teams_checked, gaps)


def metrics(app: Flask) -> list[GaugeMetricFamily]:
    """`safetycheck_teams_without_cover`, one 0/1 series per team, and the check's age."""
    report = latest_report()
    missing = report.team_ids if report else set()
    total = GaugeMetricFamily(
        "safetycheck_teams_without_cover",
        "Teams whose overdue ladder reaches nobody who can act in the coming week (daily check)",
    )
    total.add_metric([], len(missing))
    per_team = GaugeMetricFamily(
        "safetycheck_team_without_cover",
        "1 when the daily check found the team without cover in the coming week, else 0",
        labels=["team_id", "team"],
    )
    # Every team, zeros included: a series that vanishes reads as "no data", not as covered.
    for team_id, name in db.session.execute(sa.select(Team.id, Team.name).order_by(Team.id)):
        per_team.add_metric([str(team_id), name], 1 if team_id in missing else 0)
    age = GaugeMetricFamily(
        "safetycheck_cover_check_age_seconds", "Seconds since the daily coverage check last ran (-1: never)"
    )
    now: datetime = app.extensions["safetycheck.clock"].now()
    age.add_metric([], max((now - report.checked_at).total_seconds(), 0.0) if report else -1.0)
    return [total, per_team, age]
