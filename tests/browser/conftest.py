"""Browser tests: Playwright drives Debian's Chromium against the real app over real HTTP.

The app is served by a werkzeug server in a thread on 127.0.0.1, on a database of its own (a
SQLite file, or a scratch PostgreSQL database beside SAFETYCHECK_TEST_DATABASE_URL's), with real
commits: every table is emptied after each test. It shares a FrozenClock with the tests, which
move time and run the sweep themselves (`live_server.sweep()`); the scheduler is off.

Fixtures: `live_server`; `browser` (one Chromium per session); `page` (desktop, 1280x800),
`tablet_page` (768x1024), `phone_page` (360x740, touch); `new_page(kind)` for more. Helpers:
`sign_in(page, user)` and `screenshot(page, name)` (PNG into docs/screenshots/). Every page
fails its test if the browser reports a Content-Security-Policy violation or a script error.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from safetycheck import create_app
from safetycheck.clock import FrozenClock
from safetycheck.escalation.gateways import ConsoleSms
from safetycheck.extensions import db
from tests.conftest import START
from tests.escalation.harness import scratch_database
from tests.factories import PASSWORD
from tests.records import rewrites_allowed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "tablet": {"viewport": {"width": 768, "height": 1024}},
    "phone": {"viewport": {"width": 360, "height": 740}, "has_touch": True, "is_mobile": True},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip browser tests only where Chromium is missing and this is not CI (CI installs it)."""
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: `apt-get install -y chromium` to run browser tests"
    )
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@dataclass
class LiveServer:
    url: str
    app: Flask
    clock: FrozenClock
    sms: ConsoleSms
    _tables: list[sa.Table] = field(default_factory=list)

    @contextmanager
    def session(self) -> Iterator[Any]:
        """The database as the server sees it (commit what you write)."""
        with self.app.app_context():
            yield db.session

    def sweep(self) -> Any:
        """One sweep at the clock's current time, as the worker would run it."""
        from safetycheck.engine.sweep import run_sweep

        report = run_sweep(self.app)
        assert not report.errors, report.errors
        return report

    def reset(self) -> None:
        with self.app.app_context():
            with rewrites_allowed(db.session):
                for table in reversed(db.metadata.sorted_tables):
                    db.session.execute(table.delete())
            db.session.commit()
        self.clock.set(START)
        self.sms.sent.clear()


@pytest.fixture(scope="session")
def _live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from flask_migrate import upgrade

    directory = Path(tmp_path_factory.mktemp("browser"))
    server_url = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
    with scratch_database(server_url, directory, "browser") as url:
        clock = FrozenClock(START)
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": url,
                "SECRET_KEY": "browser-secret",
                "SCHEDULER_ENABLED": False,
                "SMS_BACKEND": "console",
            },
            clock=clock,
        )
        sms = ConsoleSms(stream=io.StringIO(), clock=clock.now)
        app.extensions["safetycheck.sms"] = sms
        with app.app_context():
            upgrade()
            db.session.remove()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        app.config["PUBLIC_URL"] = base
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        try:
            yield LiveServer(url=base, app=app, clock=clock, sms=sms)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def live_server(_live_server: LiveServer) -> Iterator[LiveServer]:
    """The running app; every row a test wrote is deleted afterwards and the clock reset."""
    _live_server.reset()
    yield _live_server
    _live_server.reset()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[[str], Any]]:
    """`new_page("desktop" | "tablet" | "phone")`: a page in a fresh context (its own cookies)."""
    contexts: list[Any] = []
    problems: list[str] = []

    def make(kind: str = "desktop") -> Any:
        context = browser.new_context(base_url=live_server.url, **VIEWPORTS[kind])
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: (
                problems.append(msg.text)
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(new_page: Callable[[str], Any]) -> Any:
    return new_page("desktop")


@pytest.fixture
def tablet_page(new_page: Callable[[str], Any]) -> Any:
    return new_page("tablet")


@pytest.fixture
def phone_page(new_page: Callable[[str], Any]) -> Any:
    return new_page("phone")


def sign_in(page: Any, user: Any, password: str = PASSWORD) -> None:
    """Sign in through the real form, as a person would, and wait for the landing page."""
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page: Any, name: str) -> Path:
    """Save what the viewport shows as docs/screenshots/<name>.png (for the README and review)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # caret="initial": hiding the caret sets `style` on every input, and when the board's next poll
    # settles over such an input htmx copies the attribute back with setAttribute, which the CSP
    # refuses (a violation that failed the board test whenever a poll followed a screenshot).
    page.screenshot(path=str(path), full_page=False, animations="disabled", caret="initial")
    return path


@pytest.fixture
def live_org(live_server: LiveServer) -> Any:
    """The test suite's organisation (tests.factories.make_org), committed on the live server."""
    from tests import factories

    with live_server.app.app_context():
        return factories.make_org(now=live_server.clock.now())


@pytest.fixture
def demo_org(live_server: LiveServer) -> dict[str, Any]:
    """The README's demo organisation (`flask demo`), by the part of each email before the @
    (admin, manager, oncall, priya, sam, lead); password `safetycheck.cli.DEMO_PASSWORD`.
    Screenshots use it so that they show the names a reader meets, the same on every run."""
    from safetycheck.accounts.models import User

    result = live_server.app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with live_server.session() as s:
        people = list(s.scalars(sa.select(User)))
        for person in people:
            s.refresh(person)
        s.expunge_all()
    return {person.email.split("@")[0]: person for person in people}


@pytest.fixture
def live_twilio(live_server: LiveServer) -> Iterator[Any]:
    """The live server sends its texts through the real twilio SDK to a fake Twilio."""
    from safetycheck.escalation.gateways import TwilioSms
    from tests.conftest import TWILIO_SETTINGS
    from tests.fake_twilio import FakeTwilio

    app = live_server.app
    previous = app.extensions["safetycheck.sms"]
    with FakeTwilio(
        TWILIO_SETTINGS["TWILIO_ACCOUNT_SID"],
        TWILIO_SETTINGS["TWILIO_AUTH_TOKEN"],
        clock=live_server.clock.now,
    ) as fake:
        gateway = TwilioSms(
            account_sid=TWILIO_SETTINGS["TWILIO_ACCOUNT_SID"],
            auth_token=TWILIO_SETTINGS["TWILIO_AUTH_TOKEN"],
            from_number=TWILIO_SETTINGS["TWILIO_FROM_NUMBER"],
            base_url=fake.base_url,
            timeout=2.0,
        )
        app.extensions["safetycheck.sms"] = gateway
        try:
            yield fake
        finally:
            app.extensions["safetycheck.sms"] = previous
            gateway.close()
