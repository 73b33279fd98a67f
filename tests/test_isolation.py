"""Each test runs in one transaction that is rolled back, even though views and services commit.

Flask-SQLAlchemy 3.x ignores a session's `bind` unless the session class honours it
(pallets-eco/flask-sqlalchemy#1167); without `BindHonouringSession` the commits below would be
real and the second test would find the rows. The tests run in file order: keep them together.
"""

from __future__ import annotations

import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.models import Team
from tests.assertions import session

SERVICE_TEAM = "Isolation probe (service)"
API_TEAM = "Isolation probe (API)"


def test_a_test_commits_rows(app, clock, as_user, org) -> None:
    with session(app) as s:
        account_service.create_team(name=SERVICE_TEAM, now=clock.now())
        s.commit()
    response = as_user(org.admin).post("/api/v1/teams", json={"name": API_TEAM})
    assert response.status_code == 201

    # Both commits are visible to a new session, as they would be to the next request.
    with session(app) as s:
        names = set(s.scalars(sa.select(Team.name)))
    assert {SERVICE_TEAM, API_TEAM} <= names


def test_the_next_test_finds_them_gone(app) -> None:
    with session(app) as s:
        names = set(s.scalars(sa.select(Team.name)))
        users = s.scalar(sa.text("SELECT count(*) FROM users"))
    assert not {SERVICE_TEAM, API_TEAM} & names
    assert users == 0


def test_a_failed_request_rolls_back_only_itself(as_user, org, client) -> None:
    # Each request has its own session: a request that fails and rolls back must not undo what
    # an earlier request (or the test's set-up) committed.
    priya = as_user(org.practitioner)
    visit = priya.post("/api/v1/visits", json={"address": "1 High St", "duration_minutes": 30}).get_json()
    sam = as_user(org.colleague)  # a token committed after Priya's check-in

    assert (
        priya.post("/api/v1/visits", json={"address": "1 High St", "duration_minutes": 30}).status_code == 409
    )
    assert sam.post(f"/api/v1/visits/{visit['id']}/checkout", json={}).status_code == 404

    assert sam.get("/api/v1/me").status_code == 200
    assert priya.get(f"/api/v1/visits/{visit['id']}").get_json()["status"] == "active"
