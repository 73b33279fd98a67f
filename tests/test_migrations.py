"""The migrations build exactly the schema the models describe, on this run's database.

Migrations that add a rule existing data may break refuse to run on such data, naming it, and
change nothing; those are tried on a scratch database of their own (a SQLite file, or a new
database on the PostgreSQL server under test).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy.exc import SAWarning

from safetycheck import create_app
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.extensions import db
from tests.escalation.harness import scratch_database

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_migrations_match_the_models(ctx) -> None:
    with warnings.catch_warnings():
        # SQLite cannot reflect an expression index (teams' lower(name)), so it is left out of
        # the comparison there; test_team_names_are_unique_ignoring_case_in_the_database checks it.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based", SAWarning)
        warnings.filterwarnings(
            "ignore", "autogenerate skipping metadata-specified expression-based", UserWarning
        )
        context = MigrationContext.configure(db.session.connection(), opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def _insert(table: sa.Table, **values: Any) -> None:
    db.session.execute(sa.insert(table).values(**values))


def _user(n: int, phone: str, **values: Any) -> dict[str, Any]:
    row = {
        "name": f"User {n}",
        "email": f"user{n}@example.test",
        "phone": phone,
        "role": Role.HS_LEAD,
        "password_hash": "x",
        "created_at": NOW,
    }
    return {**row, **values}


def test_team_names_are_unique_ignoring_case_in_the_database(ctx) -> None:
    """Not only the service: a row written by any other path is refused too."""
    _insert(Team.__table__, name="Eastside", created_at=NOW)
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        _insert(Team.__table__, name="EASTSIDE", created_at=NOW)


def test_phones_are_unique_in_the_database(ctx) -> None:
    _insert(User.__table__, **_user(1, "+447700900601"))
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        _insert(User.__table__, **_user(2, "+447700900601"))


@pytest.fixture
def at_0004(tmp_path: Path) -> Iterator[Flask]:
    """An app on a scratch database migrated only to 0004, before phones had to be unique."""
    with scratch_database(os.environ.get("SAFETYCHECK_TEST_DATABASE_URL"), tmp_path, "migrate") as url:
        app = create_app(
            {"TESTING": True, "DATABASE_URL": url, "SCHEDULER_ENABLED": False, "SECRET_KEY": "x"}
        )
        result = app.test_cli_runner().invoke(args=["db", "upgrade", "0004"])
        assert result.exit_code == 0, result.output
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _revision(app: Flask) -> str:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))


def _upgrade(app: Flask, caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="flask_migrate"):
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    return result.exit_code, caplog.text


def test_0005_refuses_shared_phones_and_clashing_team_names_naming_them(at_0004, caplog) -> None:
    with at_0004.app_context():
        _insert(Team.__table__, name="Eastside", created_at=NOW)
        _insert(Team.__table__, name="EASTSIDE", created_at=NOW)
        _insert(Team.__table__, name="Westside", created_at=NOW)
        _insert(User.__table__, **_user(1, "+447700900601"))
        _insert(User.__table__, **_user(2, "+447700900602"))
        _insert(User.__table__, **_user(3, "+447700900601"))
        db.session.commit()
        ids = dict(db.session.execute(sa.select(User.email, User.id)).all())
        rows = db.session.execute(sa.select(User.id, User.phone).order_by(User.id)).all()

    code, log = _upgrade(at_0004, caplog)

    assert code == 1
    first, third = ids["user1@example.test"], ids["user3@example.test"]
    assert f"+447700900601: user {first} (user1@example.test), user {third} (user3@example.test)" in log
    assert "user2@example.test" not in log
    assert "(Eastside)" in log
    assert "(EASTSIDE)" in log
    assert "Westside" not in log
    assert _revision(at_0004) == "0004"
    with at_0004.app_context():  # nothing deleted, nothing changed
        assert db.session.execute(sa.select(User.id, User.phone).order_by(User.id)).all() == rows
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 3


def test_0005_runs_once_the_clashes_are_resolved(at_0004, caplog) -> None:
    with at_0004.app_context():
        _insert(User.__table__, **_user(1, "+447700900601"))
        _insert(User.__table__, **_user(2, "+447700900601"))
        db.session.commit()
    assert _upgrade(at_0004, caplog)[0] == 1

    with at_0004.app_context():
        db.session.execute(
            sa.update(User).where(User.email == "user2@example.test").values(phone="+447700900602")
        )
        db.session.commit()
    code, log = _upgrade(at_0004, caplog)

    assert code == 0, log
    assert _revision(at_0004) != "0004"
    with at_0004.app_context():
        with pytest.raises(sa.exc.IntegrityError):
            _insert(User.__table__, **_user(3, "+447700900601"))
        db.session.rollback()
