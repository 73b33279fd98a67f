"""The register's rollups give exactly the summary the direct queries give, and are never stale.

A random register (lags of seconds to over a year, some negative, drafts, households, two teams)
is summarised both ways for every reach and for periods with ragged edges, before and after the
rollups are built, with a month made dirty, and after the sweep part rebuilds it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.extensions import db
from safetycheck.households.models import Household
from safetycheck.incidents.enums import IncidentCategory, IncidentStatus
from safetycheck.incidents.models import Incident
from safetycheck.reporting import figures, rollups, summary, trends
from safetycheck.reporting.models import RollupDirty, RollupMonthCount, RollupState
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit
from tests import factories
from tests.conftest import START

CATEGORIES = list(IncidentCategory)


def random_register(org: factories.Org, rng: random.Random, incidents: int = 260) -> None:
    """Incidents and visits over fourteen months, written through the ORM (so the listener runs)."""
    reporters = [
        db.session.get(User, u.id) for u in (org.practitioner, org.colleague, org.other_practitioner)
    ]
    households = [
        Household(key=f"K{n}", display_address=f"{n} Random Road", created_at=START - timedelta(days=500))
        for n in range(6)
    ]
    db.session.add_all(households)
    db.session.flush()
    span = int(timedelta(days=430).total_seconds())
    for _ in range(incidents):
        reporter = rng.choice(reporters)
        assert reporter is not None
        occurred = START - timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))
        kind = rng.random()
        if kind < 0.05:
            lag = -timedelta(minutes=rng.randrange(1, 90))  # a slip of the date
        elif kind < 0.1:
            lag = timedelta(days=rng.randrange(8, 500))  # weeks to over a year late
        else:
            lag = timedelta(seconds=rng.expovariate(1 / 30000), microseconds=rng.randrange(10**6))
        status = rng.choice([IncidentStatus.DRAFT, *[IncidentStatus.REPORTED] * 6, IncidentStatus.CLOSED])
        near = rng.random() < 0.3
        db.session.add(
            Incident(
                status=status,
                category=rng.choice(CATEGORIES),
                description="random",
                near_miss=near,
                harmed=(not near) and rng.random() < 0.3,
                occurred_at=occurred,
                created_at=occurred,
                reported_at=None if status == IncidentStatus.DRAFT else occurred + lag,
                reporter_id=reporter.id,
                created_by=reporter.id,
                team_id=reporter.team_id,
                household_id=rng.choice(households).id if rng.random() < 0.7 else None,
                at_marked_household=rng.random() < 0.1,
            )
        )
    for _ in range(incidents * 2):
        reporter = rng.choice(reporters)
        assert reporter is not None
        start = START - timedelta(seconds=rng.randrange(span))
        db.session.add(
            Visit(
                practitioner_id=reporter.id,
                team_id=reporter.team_id,
                address="1 Road",
                checked_in_at=start,
                due_at=start + timedelta(minutes=30),
                checked_out_at=start + timedelta(minutes=20),
                status=VisitStatus.COMPLETED,
                warnings=[],
            )
        )
    db.session.commit()


def refresh(now: datetime) -> int:
    done = 0
    while (count := rollups.refresh_rollups(db.session, now)) > 0:
        done += count
    db.session.commit()
    return done


def both_ways(user: User, period: summary.Period, now: datetime, team_id: int | None = None) -> Any:
    gathered = figures.gather(user, period=period, now=now, team_id=team_id)
    assert gathered is not None
    fast = summary.summarise(user, period=period, now=now, team_id=team_id, figures=gathered)
    fast.pop("freshness")
    direct = summary.summarise(user, period=period, now=now, team_id=team_id)
    assert fast == direct
    assert trends.monthly_by_category(user, period=period, team_id=team_id, figures=gathered) == (
        trends.monthly_by_category(user, period=period, team_id=team_id)
    )
    assert trends.lag_bands(user, period=period, team_id=team_id, figures=gathered) == trends.lag_bands(
        user, period=period, team_id=team_id
    )
    return gathered


def every_reach(org: factories.Org, now: datetime) -> list[figures.Figures]:
    lead, manager, admin = (db.session.get(User, u.id) for u in (org.lead, org.manager, org.admin))
    assert lead
    assert manager
    assert admin
    default = summary.default_period(now)
    ragged = summary.Period(datetime(2025, 5, 17, 13, 5, tzinfo=UTC), datetime(2026, 1, 9, 8, 0, tzinfo=UTC))
    whole = summary.Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    gathered = []
    for period in (default, ragged, whole):
        gathered.append(both_ways(lead, period, now))
        both_ways(lead, period, now, team_id=org.other_team.id)
        both_ways(admin, period, now)
        both_ways(manager, period, now)
        both_ways(manager, period, now, team_id=org.other_team.id)  # outside the reach: all empty
    return gathered


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_give_the_direct_summary(ctx, org, seed) -> None:
    random_register(org, random.Random(seed))
    every_reach(org, START)  # nothing rolled up yet: all live
    assert refresh(START) > 0
    state = db.session.get(RollupState, rollups.STATE_ID)
    assert state is not None
    assert state.sealed_through == "2026-02"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RollupDirty)) == 0
    gathered = every_reach(org, START)
    assert gathered[0].plan.rolled, "whole past months come from the rollups"
    assert gathered[2].plan.live == [], "a period of whole sealed months is read from the rollups only"

    # Change an old month behind the rollups' back (through the ORM): it is dirty, counted live.
    old = db.session.scalar(
        sa.select(Incident)
        .where(Incident.status != IncidentStatus.DRAFT)
        .order_by(Incident.occurred_at)
        .limit(1)
    )
    assert old is not None
    moved_from = rollups.month_of(old.occurred_at)
    old.occurred_at = datetime(2025, 9, 3, 10, 0, tzinfo=UTC)
    old.near_miss = not old.near_miss
    draft = db.session.scalar(sa.select(Incident).where(Incident.status == IncidentStatus.DRAFT).limit(1))
    assert draft is not None
    draft.status = IncidentStatus.REPORTED
    draft.reported_at = draft.occurred_at + timedelta(hours=3)
    db.session.commit()
    dirty = set(db.session.scalars(sa.select(RollupDirty.month)))
    assert {moved_from, "2025-09", rollups.month_of(draft.occurred_at)} <= dirty
    gathered = every_reach(org, START)
    assert "2025-09" not in gathered[0].plan.rolled
    refresh(START)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RollupDirty)) == 0
    every_reach(org, START)

    # A month later, March is sealed too, and still agrees.
    later = datetime(2026, 4, 1, 0, 11, tzinfo=UTC)
    refresh(later)
    assert db.session.get(RollupState, rollups.STATE_ID).sealed_through == "2026-03"  # type: ignore[union-attr]
    every_reach(org, later)


def test_a_month_is_sealed_only_after_the_grace(ctx) -> None:
    refresh(datetime(2026, 3, 1, 0, 5, tzinfo=UTC))  # five minutes into March: February still open
    assert db.session.get(RollupState, rollups.STATE_ID).sealed_through == "2026-01"  # type: ignore[union-attr]
    refresh(datetime(2026, 3, 1, 0, 10, tzinfo=UTC))
    assert db.session.get(RollupState, rollups.STATE_ID).sealed_through == "2026-02"  # type: ignore[union-attr]


def test_a_late_report_counts_at_once_and_the_answer_says_how_fresh(app, org, as_user, clock) -> None:
    with app.app_context():
        factories.make_incident(org.practitioner, occurred_at=datetime(2025, 11, 4, 10, 0, tzinfo=UTC))
        refresh(START)
        assert db.session.scalar(sa.select(sa.func.sum(RollupMonthCount.incidents))) == 1
    lead = as_user(org.lead)
    before = lead.get("/api/v1/incidents/summary").get_json()
    assert before["freshness"]["rolled_up_through"] == "2026-02"
    assert before["freshness"]["figures_as_of"].startswith("2026-03-02T09:00")
    assert before["totals"]["incidents"] == 1
    filed = as_user(org.practitioner).post(
        "/api/v1/incidents",
        json={
            "occurred_at": "2025-11-20T15:00:00Z",
            "category": "threat",
            "description": "Remembered at supervision.",
            "near_miss": True,
        },
    )
    assert filed.status_code == 201, filed.get_json()
    after = lead.get("/api/v1/incidents/summary").get_json()  # no sweep in between
    november = next(m for m in after["by_month"] if m["month"] == "2025-11")
    assert november["incidents"] == 2
    assert november["near_misses"] == 1
    assert after["totals"]["incidents"] == 2
    assert after["reporting_lag_hours"]["reports"] == 2


def test_the_listener_ignores_writes_that_change_no_figure(ctx, org) -> None:
    incident = factories.make_incident(org.practitioner, occurred_at=START - timedelta(days=40))
    db.session.execute(sa.delete(RollupDirty))
    incident.status = IncidentStatus.ACKNOWLEDGED  # a step of the procedure: no figure moves
    incident.feedback = "Thanks."
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RollupDirty)) == 0


def test_practitioners_are_summarised_directly(ctx, org) -> None:
    practitioner = db.session.get(User, org.practitioner.id)
    assert practitioner is not None
    assert practitioner.role == Role.PRACTITIONER
    assert figures.gather(practitioner, period=summary.default_period(START), now=START) is None


def test_the_list_total_is_exact_up_to_the_setting_then_an_estimate(app, org, as_user, monkeypatch) -> None:
    with app.app_context():
        for n in range(5):
            factories.make_incident(org.practitioner, occurred_at=START - timedelta(days=3 + n))
        postgres = db.engine.dialect.name == "postgresql"
    lead = as_user(org.lead)
    exact = lead.get("/api/v1/incidents?per_page=2").get_json()
    assert (exact["total"], exact["total_is_estimate"]) == (5, False)
    monkeypatch.setitem(app.config, "REGISTER_EXACT_TOTAL_UP_TO", 3)
    past = lead.get("/api/v1/incidents?per_page=2").get_json()
    if postgres:
        assert past["total_is_estimate"] is True
        assert past["total"] >= 4
    else:
        assert (past["total"], past["total_is_estimate"]) == (5, False)
    assert len(past["items"]) == 2
    narrow = lead.get("/api/v1/incidents?category=threat").get_json()
    assert (narrow["total"], narrow["total_is_estimate"]) == (0, False)
    schema = lead.get("/openapi.json").get_json()
    page = schema["components"]["schemas"]["IncidentPage"]["properties"]
    assert page["total_is_estimate"]["type"] == "boolean"
