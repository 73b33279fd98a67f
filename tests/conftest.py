"""Test set-up: one real database per run, one rolled-back transaction per test, a frozen clock.

The suite runs on SQLite by default and on PostgreSQL when SAFETYCHECK_TEST_DATABASE_URL is set.
The schema is built by the real migrations, so a migration that does not match the models fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from safetycheck import create_app
from safetycheck.accounts import secrets as account_secrets
from safetycheck.clock import FrozenClock
from safetycheck.db import normalise_database_url
from safetycheck.extensions import db
from tests import factories

account_secrets.use_fast_hashing_for_tests()

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning


def pytest_report_header() -> str:
    return f"database: {_database_label()}"


def _database_label() -> str:
    url = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
    return url.split("@")[-1] if url else "sqlite (temporary file)"


def reset_database(url: str) -> None:
    """Drop every table (ours and Alembic's) so the migrations run on an empty database."""
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            meta = sa.MetaData()
            meta.reflect(conn)
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            meta.drop_all(conn)
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
    if not url:
        url = "sqlite:///" + str(Path(tmp_path_factory.mktemp("db")) / "test.sqlite3")
    reset_database(url)
    return url


@pytest.fixture(scope="session")
def base_config(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "SCHEDULER_ENABLED": False,
        "SMS_BACKEND": "console",
        "PUBLIC_URL": "http://safetycheck.test",
    }


@pytest.fixture(scope="session")
def app(base_config: dict[str, Any]) -> Iterator[Flask]:
    from flask_migrate import upgrade

    app = create_app(base_config, clock=FrozenClock(START))
    with app.app_context():
        upgrade()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def clock(app: Flask) -> FrozenClock:
    """A fresh frozen clock for each test, installed in the app."""
    frozen = FrozenClock(START)
    app.extensions["safetycheck.clock"] = frozen
    return frozen


@pytest.fixture(autouse=True)
def _transaction(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each test inside one outer transaction that is rolled back at the end.

    Services and views still call commit(); with `create_savepoint` those commits only release
    savepoints inside the outer transaction. Tests marked `real_commits` (several processes
    or threads) opt out and clean up after themselves.
    """
    if "app" not in request.fixturenames or request.node.get_closest_marker("real_commits"):
        yield
        return
    app: Flask = request.getfixturevalue("app")
    # The app context is pushed only to set up and to tear down, never held across the test: a
    # context held open would be reused by every request of the test, so all requests would share
    # one session, and a request that rolls back (any 404/409) would roll back to that shared
    # session's savepoint, undoing what the sweep and other sessions had committed since.
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        factory = db.session.session_factory  # type: ignore[attr-defined]
        db.session.remove()
        factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
            factory.kw.pop("bind", None)
            factory.kw.pop("join_transaction_mode", None)
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def _fresh_limits(request: pytest.FixtureRequest) -> None:
    """Abuse-limit counts (in memory, not in the database) start from zero in every test."""
    if "app" in request.fixturenames:
        from safetycheck import limits

        limits.reset(request.getfixturevalue("app"))


@pytest.fixture
def ctx(app: Flask, clock: FrozenClock) -> Iterator[Flask]:
    """An app context for calling services directly.

    Not for tests that make requests: a request reuses this context and its session instead of
    getting its own. Read the database around requests with `tests.assertions.session(app)`.
    """
    with app.app_context():
        yield app


class ApiClient:
    """The Flask test client with a bearer token and JSON helpers."""

    def __init__(self, client: FlaskClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.put(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def client(app: Flask, clock: FrozenClock) -> ApiClient:
    return ApiClient(app.test_client())


@pytest.fixture
def as_user(app: Flask, clock: FrozenClock):
    """`as_user(user)` gives an ApiClient signed in as that user."""

    def make(user: Any) -> ApiClient:
        with app.app_context():
            token = factories.token_for(user, now=clock.now())
        return ApiClient(app.test_client(), token)

    return make


@pytest.fixture
def org(app: Flask, clock: FrozenClock) -> factories.Org:
    """Two teams with a manager and practitioners each, an on-call manager, a lead and an admin."""
    with app.app_context():
        return factories.make_org(now=clock.now())


# --- SMS and the sweep -------------------------------------------------------------------------

TWILIO_SETTINGS = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-auth-token",
    "TWILIO_FROM_NUMBER": "+447700900999",
}


@pytest.fixture
def console_sms(app: Flask) -> Iterator[Any]:
    """A fresh console gateway for the test: `console_sms.sent` lists what the sweep sent."""
    import io

    from safetycheck.escalation.gateways import ConsoleSms

    previous = app.extensions["safetycheck.sms"]
    gateway = ConsoleSms(stream=io.StringIO(), clock=lambda: app.extensions["safetycheck.clock"].now())
    app.extensions["safetycheck.sms"] = gateway
    yield gateway
    app.extensions["safetycheck.sms"] = previous


@pytest.fixture
def fake_twilio(app: Flask, clock: FrozenClock) -> Iterator[Any]:
    """A local fake Twilio server, with the app sending through the real twilio SDK to it."""
    from safetycheck.escalation.gateways import TwilioSms
    from safetycheck.escalation.voice_gateways import TwilioVoice
    from tests.fake_twilio import FakeTwilio

    previous = app.extensions["safetycheck.sms"]
    saved = {key: app.config.get(key) for key in TWILIO_SETTINGS}
    with FakeTwilio(
        TWILIO_SETTINGS["TWILIO_ACCOUNT_SID"], TWILIO_SETTINGS["TWILIO_AUTH_TOKEN"], clock=clock.now
    ) as fake:
        app.config.update(TWILIO_SETTINGS)
        gateway = TwilioSms(
            account_sid=TWILIO_SETTINGS["TWILIO_ACCOUNT_SID"],
            auth_token=TWILIO_SETTINGS["TWILIO_AUTH_TOKEN"],
            from_number=TWILIO_SETTINGS["TWILIO_FROM_NUMBER"],
            base_url=fake.base_url,
            timeout=1.0,
        )
        app.extensions["safetycheck.sms"] = gateway
        previous_voice = app.extensions["safetycheck.voice"]
        app.extensions["safetycheck.voice"] = TwilioVoice(gateway)  # calls go where texts go
        try:
            yield fake
        finally:
            app.extensions["safetycheck.voice"] = previous_voice
            app.extensions["safetycheck.sms"] = previous
            app.config.update(saved)
            gateway.close()


@pytest.fixture
def sweep(app: Flask, clock: FrozenClock):
    """`sweep()` runs one full sweep at the clock's current time and returns its report."""
    from safetycheck.engine.sweep import run_sweep

    def run() -> Any:
        report = run_sweep(app)
        assert not report.errors, report.errors
        return report

    return run
