"""The coverage check: a check-in whose overdue ladder reaches nobody who can act is warned.

Through the API as a phone sees it: the check-in still succeeds, its answer carries a
`no_cover` warning, admins hear once per team and local day, and the daily sweep part stores the
teams without cover for /admin and /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.escalation import coverage, coverage_jobs, policy
from safetycheck.escalation.coverage_models import CoverAlert, CoverCheck, CoverGap
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from safetycheck.timeline.models import TimelineEntry
from tests import factories
from tests.assertions import session

VISITS = "/api/v1/visits"


@dataclass
class Lonely:
    """A team of its own, with a practitioner, and two admins; nobody on call anywhere."""

    team: Team
    practitioner: User
    admins: list[User]


@pytest.fixture
def lonely(app, clock) -> Lonely:
    now = clock.now()
    with app.app_context():
        team = factories.make_team(now=now, name="Lonely Team")
        practitioner = factories.make_user(now=now, team=team, name="Lee Alone")
        admins = [factories.make_user(now=now, role=Role.ADMIN) for _ in range(2)]
        factories.loaded(team, practitioner, *admins)
        return Lonely(team, practitioner, admins)


def person(app, clock, **kw: Any) -> User:
    """A user made through the real service, readable after its session closed."""
    with app.app_context():
        user = factories.make_user(now=clock.now(), **kw)
        factories.loaded(user)
        return user


def change(app, user: User, **values: Any) -> None:
    """Write user columns directly, as Twilio's refusal or an admin's edit would leave them."""
    with session(app) as s:
        s.execute(sa.update(User).where(User.id == user.id).values(**values))
        s.commit()


def check_in(client, address: str = "3 Quiet Lane, Leeds") -> dict[str, Any]:
    response = client.post(VISITS, json={"address": address, "duration_minutes": 30})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def no_cover(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["warnings"] if w.get("code") == "no_cover"]


def alerts(app) -> list[OutboxMessage]:
    with session(app) as s:
        rows = list(
            s.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.purpose == MessagePurpose.COVERAGE)
                .order_by(OutboxMessage.id)
            )
        )
        s.expunge_all()
        return rows


# --- the warning at check-in -----------------------------------------------------------------


def test_a_team_with_nobody_at_all_is_warned_and_the_check_in_stands(app, as_user, lonely) -> None:
    body = check_in(as_user(lonely.practitioner))

    assert body["status"] == "active"
    [warning] = no_cover(body)
    assert "nobody can be texted if you are overdue" in warning["message"]
    # Kept with the visit: the phone sees it again when it asks for the visit.
    again = as_user(lonely.practitioner).get(f"{VISITS}/{body['id']}").get_json()
    assert no_cover(again) == [warning]
    with session(app) as s:
        events = s.scalars(
            sa.select(TimelineEntry.event).where(
                TimelineEntry.subject_type == "visit", TimelineEntry.subject_id == body["id"]
            )
        ).all()
    assert "no_cover" in events
    assert "checked_in" in events
    texts = alerts(app)
    assert sorted(t.recipient_id for t in texts) == sorted(a.id for a in lonely.admins)
    assert "Lonely Team" in texts[0].body
    assert "no active manager" in texts[0].body
    assert "Quiet Lane" not in texts[0].body  # no visit detail in a text


@pytest.mark.parametrize("broken", ["dead number", "inactive"])
def test_managers_who_cannot_be_reached_do_not_count(app, as_user, clock, lonely, broken) -> None:
    manager = person(app, clock, role=Role.MANAGER, team=lonely.team)
    if broken == "dead number":
        change(app, manager, phone_undeliverable_at=clock.now(), phone_undeliverable_reason="21211 invalid")
    else:
        change(app, manager, active=False)

    body = check_in(as_user(lonely.practitioner))

    assert len(no_cover(body)) == 1
    reason = "1 manager, 0 with a working number" if broken == "dead number" else "no active manager"
    assert reason in alerts(app)[0].body


@pytest.mark.parametrize("broken", ["dead number", "inactive", "is the practitioner"])
def test_on_call_contacts_who_cannot_be_reached_do_not_count(app, as_user, clock, lonely, broken) -> None:
    if broken == "is the practitioner":
        change(app, lonely.practitioner, on_call=True)
    else:
        with app.app_context():  # a duty manager of another team, on call for everyone
            other = factories.make_team(now=clock.now())
            factories.loaded(other)
        duty = person(app, clock, role=Role.MANAGER, team=other, on_call=True)
        if broken == "dead number":
            change(app, duty, phone_undeliverable_at=clock.now())
        else:
            change(app, duty, active=False)

    assert len(no_cover(check_in(as_user(lonely.practitioner)))) == 1


def test_a_reachable_manager_is_cover(app, as_user, clock, lonely) -> None:
    with app.app_context():
        factories.make_user(now=clock.now(), role=Role.MANAGER, team=lonely.team)

    body = check_in(as_user(lonely.practitioner))

    assert body["warnings"] == []
    assert alerts(app) == []


def test_someone_reachable_on_call_is_cover(app, as_user, clock, lonely) -> None:
    with app.app_context():
        other = factories.make_team(now=clock.now())
        factories.loaded(other)
        factories.make_user(now=clock.now(), role=Role.MANAGER, team=other, on_call=True)

    assert check_in(as_user(lonely.practitioner))["warnings"] == []


def test_the_usual_org_has_cover(as_user, org) -> None:
    assert check_in(as_user(org.practitioner))["warnings"] == []


@contextmanager
def overdue_ladder(app, *steps: policy.Step) -> Iterator[None]:
    previous = app.extensions["safetycheck.policy"]
    ladders = dict(previous.ladders)
    ladders[policy.AlarmKind.OVERDUE] = policy.Ladder(policy.AlarmKind.OVERDUE, steps)
    app.extensions["safetycheck.policy"] = policy.Policy(ladders=ladders)
    try:
        yield
    finally:
        app.extensions["safetycheck.policy"] = previous


def test_only_the_groups_the_ladder_texts_count(app, as_user, org) -> None:
    """Managers and on-call contacts exist, but a ladder that texts only the worker reaches neither."""
    with overdue_ladder(app, policy.Step(after=0, notify=(policy.RecipientGroup.PRACTITIONER,))):
        body = check_in(as_user(org.practitioner))
    assert len(no_cover(body)) == 1
    assert "the overdue ladder texts no managers" in alerts(app)[0].body


def test_on_call_is_asked_for_the_moment_its_step_falls_due(app, ctx, org, lonely, monkeypatch) -> None:
    """The rota answers who is on call then; today's stub ignores the moment."""
    asked: list[Any] = []
    real = coverage.rota.on_call_at

    def spy(at, *, team_id):
        asked.append((at, team_id))
        return real(at, team_id=team_id)

    monkeypatch.setattr(coverage.rota, "on_call_at", spy)  # a spy around the real function
    due = ctx.extensions["safetycheck.clock"].now() + timedelta(hours=1)
    rules = ctx.extensions["safetycheck.policy"]
    first_on_call = coverage.first_steps(rules)[policy.RecipientGroup.ON_CALL]
    coverage.has_cover(
        team_id=lonely.team.id, practitioner_id=lonely.practitioner.id, due_at=due, rules=rules
    )
    assert asked == [(due + first_on_call, lonely.team.id)]


def test_the_check_costs_one_query_with_a_manager_and_a_few_without(ctx, org, lonely) -> None:
    rules = ctx.extensions["safetycheck.policy"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):  # not the test's own savepoints
            statements.append(statement)

    due = ctx.extensions["safetycheck.clock"].now()
    covered = {"team_id": org.team.id, "practitioner_id": org.practitioner.id}
    alone = {"team_id": lonely.team.id, "practitioner_id": lonely.practitioner.id}
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert coverage.has_cover(**covered, due_at=due, rules=rules)
        with_manager = len(statements)
        statements.clear()
        assert coverage.has_cover(**alone, due_at=due, rules=rules)  # org's on-call contact
        without = len(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    # With a reachable manager the check is one query; without, the rota is asked too (its
    # rotations, layers and overrides in force at the step's moment, a few indexed reads).
    assert with_manager == 1, statements
    assert without <= 6, statements


# --- admins hear once per team and day ----------------------------------------------------------


def test_admins_hear_once_per_team_and_day_however_many_check_ins(app, as_user, clock, lonely) -> None:
    colleagues = [person(app, clock, team=lonely.team) for _ in range(3)]
    for worker in [lonely.practitioner, *colleagues]:
        assert len(no_cover(check_in(as_user(worker)))) == 1
    assert len(alerts(app)) == len(lonely.admins)

    clock.advance(timedelta(days=1))
    check_in(as_user(person(app, clock, team=lonely.team)))
    assert len(alerts(app)) == 2 * len(lonely.admins)
    with session(app) as s:
        rows = s.execute(sa.select(CoverAlert.source, CoverAlert.admins_texted)).all()
    assert rows == [("check_in", 2), ("check_in", 2)]


# --- the daily sweep part ---------------------------------------------------------------------


def run_daily(app, now) -> int:
    with app.app_context():
        done = coverage_jobs.check_cover_daily(db.session, now)
        db.session.commit()
        return done


def test_the_daily_part_does_its_work_once_a_day_from_seven(app, clock, org, lonely) -> None:
    change(app, org.on_call, on_call=False)  # else everyone has cover through them
    monday_9 = clock.now()  # 09:00 in London
    teams = 3  # org's two and the lonely one

    assert run_daily(app, monday_9) == teams
    assert run_daily(app, monday_9 + timedelta(minutes=5)) == 0
    tuesday_6 = monday_9 + timedelta(hours=21)
    assert run_daily(app, tuesday_6) == 0  # before 07:00: not yet
    assert run_daily(app, tuesday_6 + timedelta(hours=1)) == teams
    with session(app) as s:
        days = s.scalars(sa.select(CoverCheck.day).order_by(CoverCheck.day)).all()
        gaps = s.execute(sa.select(CoverGap.team_id, CoverGap.starts_at, CoverGap.ends_at)).all()
    assert [d.isoformat() for d in days] == ["2026-03-02", "2026-03-03"]
    # Only the lonely team, the whole coming week each day.
    assert [(team, end - start) for team, start, end in gaps] == [(lonely.team.id, timedelta(days=7))] * 2
    # Every admin (the org's too) heard once a day, from the sweep.
    assert len(alerts(app)) == 2 * (len(lonely.admins) + 1)


def test_a_check_in_and_the_daily_part_alert_once_between_them(app, as_user, clock, lonely) -> None:
    check_in(as_user(lonely.practitioner))
    run_daily(app, clock.now())
    assert len(alerts(app)) == len(lonely.admins)


def test_the_latest_report_lists_teams_without_cover(app, ctx, org, lonely) -> None:
    account_service.set_on_call(org.on_call.id, on_call=False)
    assert coverage_jobs.latest_report() is None
    coverage_jobs.check_cover_daily(db.session, ctx.extensions["safetycheck.clock"].now())
    report = coverage_jobs.latest_report()
    assert report is not None
    assert [(g.team_name, g.reason) for g in report.gaps] == [
        ("Lonely Team", "no active manager, and nobody on call")
    ]
    assert report.team_ids == {lonely.team.id}


def test_fixing_the_team_clears_it_at_the_next_daily_check(app, clock, lonely) -> None:
    run_daily(app, clock.now())
    with app.app_context():
        factories.make_user(now=clock.now(), role=Role.MANAGER, team=lonely.team)
    run_daily(app, clock.now() + timedelta(days=1))
    with app.app_context():
        report = coverage_jobs.latest_report()
        assert report is not None
        assert report.gaps == []


def test_metrics_show_teams_without_cover(app, client, clock, org, lonely) -> None:
    change(app, org.on_call, on_call=False)
    before = client.get("/metrics").get_data(as_text=True)
    assert "safetycheck_teams_without_cover 0.0" in before
    assert "safetycheck_cover_check_age_seconds -1.0" in before

    run_daily(app, clock.now())
    clock.advance(timedelta(minutes=10))
    text = client.get("/metrics").get_data(as_text=True)
    assert "safetycheck_teams_without_cover 1.0" in text
    assert f'safetycheck_team_without_cover{{team="Lonely Team",team_id="{lonely.team.id}"}} 1.0' in text
    assert f'safetycheck_team_without_cover{{team="{org.team.name}",team_id="{org.team.id}"}} 0.0' in text
    assert "safetycheck_cover_check_age_seconds 600.0" in text


def test_the_stub_rota_is_todays_on_call_flag(ctx, org) -> None:
    from safetycheck.accounts import rota

    now = ctx.extensions["safetycheck.clock"].now()
    assert [u.id for u in rota.on_call_at(now, team_id=org.other_team.id)] == [org.on_call.id]
    account_service.set_on_call(org.on_call.id, on_call=False)
    assert rota.on_call_at(now, team_id=None) == []


def test_the_daily_check_records_the_stretches_of_the_week_the_rota_leaves_uncovered(
    app, clock, org, lonely
) -> None:
    """Cover from the rota for two days of the seven: the gap before it and the one after."""
    from safetycheck.accounts import rota_service

    change(app, org.on_call, on_call=False)
    now = clock.now()
    duty = person(app, clock, role=Role.HS_LEAD, name="Dee Duty")
    with app.app_context():
        rota_service.create_override(
            user_id=duty.id,
            team_id=lonely.team.id,
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=3),
            note="covers midweek",
            created_by_id=None,
            now=now,
        )
        db.session.commit()
    run_daily(app, now)
    with session(app) as s:
        gaps = s.execute(
            sa.select(CoverGap.starts_at, CoverGap.ends_at)
            .where(CoverGap.team_id == lonely.team.id)
            .order_by(CoverGap.starts_at)
        ).all()
    as_utc = [(start.replace(tzinfo=None), end.replace(tzinfo=None)) for start, end in gaps]
    naive = now.replace(tzinfo=None)
    assert as_utc == [
        (naive, naive + timedelta(days=1)),
        (naive + timedelta(days=3), naive + timedelta(days=7)),
    ]
