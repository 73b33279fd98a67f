"""One JSON error shape everywhere, including errors Flask and Werkzeug raise themselves."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.accounts.models import Team
from safetycheck.clock import FrozenClock
from safetycheck.extensions import db
from tests.assertions import assert_error, count


def test_unknown_url_is_404_in_the_json_shape(client) -> None:
    for url in ("/api/v1/nothing-here", "/nothing", "/api/v2/visits"):
        body = assert_error(client.get(url), 404)
        assert body["status"] == "Not Found"


def test_unknown_record_is_404_in_the_json_shape(as_user, org) -> None:
    body = assert_error(as_user(org.admin).get("/api/v1/visits/424242"), 404)
    assert body["errors"] == {}


def test_wrong_method_is_405_with_allow(client) -> None:
    response = client.put("/api/v1/visits")

    body = assert_error(response, 405)
    assert body["status"] == "Method Not Allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_405_on_a_route_with_one_method(client) -> None:
    response = client.get("/api/v1/auth/tokens")
    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_body_over_the_limit_is_413_and_changes_nothing(as_user, org, app) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    before = count(app, Team)

    response = as_user(org.admin).post("/api/v1/teams", json={"name": "x" * limit})

    assert_error(response, 413)
    assert count(app, Team) == before


def test_body_at_the_limit_is_read(as_user, org, app) -> None:
    # Just under the limit: parsed, then refused by the schema (name too long), not by size.
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = '{"name": "' + "x" * (limit - 20) + '"}'
    response = as_user(org.admin).post(
        "/api/v1/teams", data=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "name")


@pytest.mark.parametrize(
    "data",
    [
        '{"address": "1 High St", ',
        "not json at all",
        b'{"address": "\xff"}',
        '{"address": "1 High St", "duration_minutes": ' + "1" * 5000 + "}",
        '["a", "list"]',
        "null",
        '"a string"',
    ],
    ids=["truncated", "garbage", "not-utf8", "5000-digit-number", "list", "null", "string"],
)
def test_malformed_json_is_422_in_the_json_shape(as_user, org, app, data) -> None:
    """The contract's 422 for every invalid body, including one that is not JSON at all."""
    from safetycheck.visits.models import Visit

    response = as_user(org.practitioner).post(
        "/api/v1/visits", data=data, headers={"Content-Type": "application/json"}
    )

    body = assert_error(response, 422)
    assert body["errors"], body
    assert count(app, Visit) == 0


def test_a_body_that_is_not_json_names_json(as_user, org) -> None:
    response = as_user(org.admin).post(
        "/api/v1/teams", data='{"name": "Eastside"', headers={"Content-Type": "application/json"}
    )
    body = assert_error(response, 422, "json")
    assert "JSON" in body["message"]


# --- a unique key taken by a request that committed first --------------------------------------


@pytest.fixture
def racing_app(base_config: dict[str, Any]) -> Flask:
    """A fresh app with routes that break a unique key and a NOT NULL rule, as a race and a bug would."""
    app = create_app({**base_config, "TESTING": False}, clock=FrozenClock())

    @app.get("/duplicate-team")
    def duplicate_team() -> Any:
        for _ in range(2):
            db.session.add(Team(name="racing team", created_at=FrozenClock().now()))
            db.session.flush()
        return {}

    @app.get("/nameless-team")
    def nameless_team() -> Any:
        db.session.add(Team(name=None, created_at=FrozenClock().now()))
        db.session.flush()
        return {}

    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_unique_key_taken_at_the_same_moment_is_409_not_500(racing_app) -> None:
    body = assert_error(racing_app.test_client().get("/duplicate-team"), 409)
    assert "try again" in body["message"]
    with racing_app.app_context():
        assert db.session.scalar(sa.select(Team.id).where(Team.name == "racing team")) is None


def test_other_integrity_errors_are_still_500(racing_app) -> None:
    assert_error(racing_app.test_client().get("/nameless-team"), 500)


def test_a_body_that_is_not_json_is_422(as_user, org) -> None:
    response = as_user(org.practitioner).post(
        "/api/v1/visits",
        data="address=1+High+St&duration_minutes=30",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 422)


def test_validation_errors_name_the_field_not_the_location(as_user, org) -> None:
    body = assert_error(as_user(org.practitioner).post("/api/v1/visits", json={"duration_minutes": 30}), 422)
    assert "address" in body["errors"]
    assert "json" not in body["errors"]


def test_domain_errors_use_the_same_shape(as_user, org) -> None:
    priya = as_user(org.practitioner)
    first = priya.post("/api/v1/visits", json={"address": "1 High St", "duration_minutes": 30}).get_json()
    body = assert_error(
        priya.post("/api/v1/visits", json={"address": "1 High St", "duration_minutes": 30}), 409
    )
    assert body["status"] == "Conflict"
    assert str(first["id"]) in body["message"]


@pytest.fixture
def crashing_app(base_config: dict[str, Any]) -> Flask:
    """A fresh app with one extra route that fails the way a bug would."""
    app = create_app({**base_config, "TESTING": False}, clock=FrozenClock())

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("secret detail: password=hunter2 at /srv/app.py line 42")

    @app.get("/boom-after-write")
    def boom_after_write() -> Any:
        db.session.add(Team(name="half-written", created_at=FrozenClock().now()))
        db.session.flush()
        raise KeyError("no such thing")

    yield app
    with app.app_context():
        db.engine.dispose()


def test_an_unexpected_failure_is_500_in_the_json_shape_without_details(crashing_app, caplog) -> None:
    response = crashing_app.test_client().get("/boom")

    body = assert_error(response, 500)
    assert body["status"] == "Internal Server Error"
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text
    # ... but it is logged with the exception, for whoever is on call.
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert "hunter2" in str(logged[0].exc_info[1])


def test_a_failure_after_a_write_rolls_the_write_back(crashing_app) -> None:
    client = crashing_app.test_client()

    assert_error(client.get("/boom-after-write"), 500)

    with crashing_app.app_context():
        assert db.session.scalar(sa.select(Team.id).where(Team.name == "half-written")) is None
