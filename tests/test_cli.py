"""The bootstrap commands: `create-admin`, `demo` and `config`, on a fresh database of their own.

They commit for real, so they run against a temporary SQLite file, not the shared test database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from safetycheck import create_app
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.accounts.rota_models import Rotation
from safetycheck.cli import DEMO_PASSWORD, DEMO_PEOPLE
from safetycheck.extensions import db
from safetycheck.paths import DEFAULT_POLICY_PATH, DEFAULT_SETTINGS_PATH, MIGRATIONS_DIR

ADMIN = ["--email", "Boss@Example.test", "--password", "a long admin password", "--name", "Bo Boss"]


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on an empty SQLite file, with the schema built by `flask db upgrade`."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
            "SCHEDULER_ENABLED": False,
            "SECRET_KEY": "cli-test",
        }
    )
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def runner(fresh_app: Flask) -> FlaskCliRunner:
    return fresh_app.test_cli_runner()


def users(app: Flask) -> list[tuple[str, Role, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(User.email, User.role, Team.name).outerjoin(Team).order_by(User.id)
        ).all()
        return [tuple(row) for row in rows]


def sign_in(app: Flask, email: str, password: str) -> int:
    response = app.test_client().post(
        "/api/v1/auth/tokens", json={"email": email, "password": password, "device": "cli test"}
    )
    return response.status_code


def test_db_upgrade_builds_the_schema(fresh_app) -> None:
    with fresh_app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert {"teams", "users", "api_tokens", "visits", "timeline_entries", "alembic_version"} <= tables


def test_create_admin_creates_an_admin_who_can_sign_in(runner, fresh_app) -> None:
    result = runner.invoke(args=["create-admin", *ADMIN, "--phone", "07700 900100"])

    assert result.exit_code == 0, result.output
    assert "created admin boss@example.test" in result.output
    assert users(fresh_app) == [("boss@example.test", Role.ADMIN, None)]
    with fresh_app.app_context():
        assert db.session.scalar(sa.select(User.phone)) == "+447700900100"
    assert sign_in(fresh_app, "boss@example.test", "a long admin password") == 201


def test_create_admin_is_idempotent_on_email(runner, fresh_app) -> None:
    first = runner.invoke(args=["create-admin", *ADMIN, "--phone", "+447700900100"])
    again = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "boss@example.test",
            "--password",
            "a different password",
            "--name",
            "Someone Else",
            "--phone",
            "+447700900200",
        ]
    )

    assert first.exit_code == 0
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output
    assert users(fresh_app) == [("boss@example.test", Role.ADMIN, None)]
    # The second run changed nothing: the first password still works, the second does not.
    assert sign_in(fresh_app, "boss@example.test", "a long admin password") == 201
    assert sign_in(fresh_app, "boss@example.test", "a different password") == 422


@pytest.mark.parametrize("phone", ["12345", "not a phone", "+99 1"])
def test_create_admin_with_an_invalid_phone_fails_cleanly(runner, fresh_app, phone) -> None:
    result = runner.invoke(args=["create-admin", *ADMIN, "--phone", phone])

    assert result.exit_code != 0
    assert "Invalid phone number" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert users(fresh_app) == []


def test_create_admin_refuses_a_short_password(runner, fresh_app) -> None:
    result = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "a@example.test",
            "--password",
            "short",
            "--name",
            "A",
            "--phone",
            "+447700900100",
        ]
    )
    assert result.exit_code != 0
    assert "password" in result.output.lower()
    assert users(fresh_app) == []


def test_create_admin_does_not_claim_a_non_admin_exists_as_admin(runner, fresh_app) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0

    result = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "priya@demo.safetycheck",
            "--password",
            "a long admin password",
            "--name",
            "P",
            "--phone",
            "+447700900100",
        ]
    )

    assert result.exit_code != 0
    assert "practitioner" in result.output
    with fresh_app.app_context():
        assert db.session.scalar(sa.select(User.role).where(User.email == "priya@demo.safetycheck")) == (
            Role.PRACTITIONER
        )


def test_create_admin_requires_every_option(runner, fresh_app) -> None:
    result = runner.invoke(args=["create-admin", "--email", "a@example.test"])
    assert result.exit_code == 2
    assert "Missing option" in result.output
    assert users(fresh_app) == []


def test_demo_fills_an_empty_database_and_prints_the_logins(runner, fresh_app) -> None:
    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output
    for person in DEMO_PEOPLE:
        assert person.email in result.output
    created = users(fresh_app)
    assert created == [(p.email, p.role, p.team) for p in DEMO_PEOPLE]
    team_of = {email: team for email, _role, team in created}
    assert team_of["priya@demo.safetycheck"] == team_of["manager@demo.safetycheck"] is not None
    assert team_of["admin@demo.safetycheck"] is None
    with fresh_app.app_context():
        on_call = db.session.scalars(sa.select(User.email).where(User.on_call)).all()
        rotations = db.session.scalars(sa.select(Rotation.name).order_by(Rotation.id)).all()
    assert on_call == []  # the demo's on-call is its rota, not the always-on flag
    assert rotations == ["Duty manager (day)", "Out-of-hours duty"]
    assert sign_in(fresh_app, "priya@demo.safetycheck", DEMO_PASSWORD) == 201


def test_demo_practitioner_can_check_in(runner, fresh_app) -> None:
    runner.invoke(args=["demo"])
    client = fresh_app.test_client()
    token = client.post(
        "/api/v1/auth/tokens",
        json={"email": "priya@demo.safetycheck", "password": DEMO_PASSWORD, "device": "demo"},
    ).get_json()["token"]

    response = client.post(
        "/api/v1/visits",
        json={"address": "1 Demo Street", "duration_minutes": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_json()


def test_demo_refuses_to_add_twice(runner, fresh_app) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    before = users(fresh_app)

    again = runner.invoke(args=["demo"])

    assert again.exit_code == 0
    assert "not added" in again.output
    assert "priya@demo.safetycheck" in again.output  # the logins are printed again
    assert users(fresh_app) == before


def test_demo_refuses_a_database_that_already_has_people(runner, fresh_app) -> None:
    runner.invoke(args=["create-admin", *ADMIN, "--phone", "+447700900100"])

    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0
    assert "not added" in result.output
    assert users(fresh_app) == [("boss@example.test", Role.ADMIN, None)]


def test_demo_ladder_widens_to_someone_new(runner, fresh_app) -> None:
    """On call is not one of Priya's managers, so the last step visibly texts someone more."""
    from safetycheck.escalation import recipients
    from safetycheck.escalation.enums import RecipientGroup
    from safetycheck.escalation.models import Alarm

    runner.invoke(args=["demo"])
    with fresh_app.app_context():
        priya = db.session.scalar(sa.select(User).where(User.email == "priya@demo.safetycheck"))
        alarm = Alarm(practitioner=priya, team_id=priya.team_id)
        moment = fresh_app.extensions["safetycheck.clock"].now()
        managers, _ = recipients.resolve(alarm, frozenset({RecipientGroup.TEAM_MANAGERS}), now=moment)
        wider, _ = recipients.resolve(
            alarm, frozenset({RecipientGroup.TEAM_MANAGERS, RecipientGroup.ON_CALL}), now=moment
        )
        emails = [u.email for u in managers], [u.email for u in wider]
        db.session.rollback()

    managers_step, wider_step = emails
    assert managers_step == ["manager@demo.safetycheck"]
    # Whoever the demo rota has on call at this moment: one of the duty team, day or night.
    assert wider_step[0] == "manager@demo.safetycheck"
    assert wider_step[1:] in (["oncall@demo.safetycheck"], ["duty@demo.safetycheck"])


def test_config_prints_where_the_settings_come_from(monkeypatch, tmp_path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("SWEEP_INTERVAL_SECONDS = 2\n")
    monkeypatch.setenv("SAFETYCHECK_CONFIG_FILE", str(settings))
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "postgresql://safetycheck:hunter2-secret@db.invalid:5432/sc",
            "SCHEDULER_ENABLED": False,
        }
    )

    result = app.test_cli_runner().invoke(args=["config"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        "settings, each layer overriding the one before:",
        f"  {DEFAULT_SETTINGS_PATH}",
        f"  {settings}",
        "  SAFETYCHECK_* environment variables",
    ]
    assert f"escalation policy: {DEFAULT_POLICY_PATH}" in lines
    assert f"migrations:        {MIGRATIONS_DIR}" in lines
    assert "database:          postgresql+psycopg://safetycheck:***@db.invalid:5432/sc" in lines
    assert "hunter2" not in result.output
