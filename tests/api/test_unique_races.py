"""Two requests creating the same user or team at the same moment: one 201, one 409, no 500.

Real threads and real commits on a database of their own. Both requests pass the service's check
before either inserts (a barrier holds each at its INSERT), so the database's unique index
decides. PostgreSQL only: SQLite takes its write lock at BEGIN, so there the second request
cannot even start its check until the first has committed, and this race cannot happen (the
same IntegrityError path is exercised on both databases in test_unique_keys).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.accounts.models import Team, User
from safetycheck.clock import FrozenClock
from safetycheck.extensions import db
from tests import factories
from tests.api.test_admin import new_user
from tests.conftest import START
from tests.escalation.harness import scratch_database

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.real_commits,
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not (SERVER_URL and SERVER_URL.startswith(("postgres://", "postgresql"))),
        reason="SQLite serialises writers from BEGIN: the check and the insert cannot be raced there",
    ),
]


@pytest.fixture
def own_app(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """An app on a fresh database, with an admin signed in; the database is dropped afterwards."""
    with scratch_database(SERVER_URL, tmp_path, "races") as url:
        app = create_app(
            {"TESTING": True, "DATABASE_URL": url, "SCHEDULER_ENABLED": False, "SECRET_KEY": "x"},
            clock=FrozenClock(START),
        )
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
            org = factories.make_org(now=START)
            token = factories.token_for(org.admin, now=START)
            team_id = org.team.id
        app.config["RACE_TEAM_ID"] = team_id
        try:
            yield app, token
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def race(app: Flask, token: str, model: type, path: str, bodies: list[dict[str, Any]]) -> list[Any]:
    """POST each body from its own thread, all held at their INSERT until every one got there."""
    barrier = threading.Barrier(len(bodies), timeout=10)

    def hold(_mapper: Any, _connection: Any, _target: Any) -> None:
        barrier.wait()

    answers: list[Any] = [None] * len(bodies)

    def post(i: int) -> None:
        client = app.test_client()
        answers[i] = client.post(path, json=bodies[i], headers={"Authorization": f"Bearer {token}"})

    sa.event.listen(model, "before_insert", hold)
    try:
        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        sa.event.remove(model, "before_insert", hold)
    return answers


@pytest.mark.parametrize(
    ("field", "second"),
    [("email", {"phone": "+447700900322"}), ("phone", {"email": "other@example.test"})],
)
def test_two_users_with_one_key_at_once_one_201_one_409(own_app, field, second) -> None:
    app, token = own_app
    team_id = app.config["RACE_TEAM_ID"]
    bodies = [new_user(team_id), new_user(team_id, **second)]

    answers = race(app, token, User, "/api/v1/users", bodies)

    assert sorted(a.status_code for a in answers) == [201, 409], [a.get_json() for a in answers]
    [conflict] = [a.get_json() for a in answers if a.status_code == 409]
    assert list(conflict["errors"]) == [field]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(User.name == "Nia Newstarter")) == 1


def test_two_teams_differing_in_case_at_once_one_201_one_409(own_app) -> None:
    app, token = own_app

    answers = race(app, token, Team, "/api/v1/teams", [{"name": "Eastside"}, {"name": "EASTSIDE"}])

    assert sorted(a.status_code for a in answers) == [201, 409], [a.get_json() for a in answers]
    [conflict] = [a.get_json() for a in answers if a.status_code == 409]
    assert list(conflict["errors"]) == ["name"]
    with app.app_context():
        eastside = sa.select(sa.func.count()).where(sa.func.lower(Team.name) == "eastside")
        assert db.session.scalar(eastside) == 1
