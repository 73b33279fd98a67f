"""The coverage check on the pages: the phone page warns a worker whose alarm would reach nobody,
and /admin lists the teams the daily check found without cover."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.escalation import coverage_jobs
from safetycheck.extensions import db
from tests import factories


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def lonely_practitioner(app, clock) -> User:
    """A practitioner in a team with no manager, with nobody on call anywhere."""
    with app.app_context():
        db.session.execute(sa.update(User).values(on_call=False))
        db.session.commit()
        team = factories.make_team(now=clock.now(), name="Lonely Team")
        user = factories.make_user(now=clock.now(), team=team, name="Lee Alone")
        factories.loaded(user)
        return user


def test_the_phone_page_shows_the_no_cover_warning(app, clock, web_as, org) -> None:
    worker = web_as(lonely_practitioner(app, clock))
    response = worker.post("/app/check-in", {"address": "3 Quiet Lane, Leeds", "minutes": "30"})
    assert response.status_code == 302  # the check-in stands
    page = text(worker.get("/app"))
    assert 'data-warning="no_cover"' in page
    assert "Nobody can be reached if you are overdue" in page
    assert "Tell your manager, or an admin, before you go in." in page


def test_no_warning_on_the_phone_page_with_cover(web_as, org) -> None:
    worker = web_as(org.practitioner)
    assert worker.post("/app/check-in", {"address": "1 Park Road, Leeds", "minutes": "30"}).status_code == 302
    page = text(worker.get("/app"))
    assert "Check out" in page
    assert "no_cover" not in page


def test_admin_lists_the_teams_without_cover(app, clock, web_as, org) -> None:
    admin = web_as(org.admin)
    assert "Not checked yet" in text(admin.get("/admin"))

    lonely_practitioner(app, clock)
    with app.app_context():
        coverage_jobs.check_cover_daily(db.session, clock.now())
        db.session.commit()
    page = text(admin.get("/admin"))
    assert "Cover in the coming week" in page
    assert "data-cover-gaps" in page
    assert "Lonely Team" in page
    assert "No active manager, and nobody on call" in page
    assert org.team.name not in page.split('id="cover"')[1]


def test_admin_says_when_every_team_has_cover(app, clock, web_as, org) -> None:
    with app.app_context():
        coverage_jobs.check_cover_daily(db.session, clock.now())
        db.session.commit()
    page = text(web_as(org.admin).get("/admin"))
    assert "data-cover-ok" in page
    assert "Every team (2) has a manager or on-call contact" in page
