"""Signing in and out in a real browser: landing pages, failures, locks, sign-out, revocation."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from safetycheck.accounts import signin
from safetycheck.accounts.models import SigninThrottle
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("who", "home"),
    [("admin", "/admin"), ("manager", "/board"), ("lead", "/register"), ("practitioner", "/app")],
)
def test_each_role_signs_in_and_lands_on_its_page(page, live_server, live_org, who, home) -> None:
    user = getattr(live_org, who)
    sign_in(page, user)
    expect(page).to_have_url(live_server.url + home)
    expect(page.get_by_text(user.name)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(live_server.url + home)


def test_the_sign_in_page_at_desktop_and_tablet_widths(page, tablet_page, live_server) -> None:
    for shown, name in ((page, "login-1280"), (tablet_page, "login-768")):
        shown.goto("/")
        expect(shown).to_have_url(live_server.url + "/login")
        expect(shown.get_by_role("heading", name="Sign in to SafetyCheck")).to_be_visible()
        screenshot(shown, name)


def test_a_wrong_password_shows_the_error_and_is_counted(page, live_server, demo_org) -> None:
    before = signin.SIGNIN_FAILURES.labels("web", "wrong_credentials")._value.get()
    page.goto("/login")
    page.get_by_label("Email").fill(demo_org["admin"].email)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link", name=signin.WRONG_CREDENTIALS)).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Error: Sign in"))
    expect(summary).to_be_focused()  # GOV.UK Frontend's script ran (the CSP let it)
    assert signin.SIGNIN_FAILURES.labels("web", "wrong_credentials")._value.get() == before + 1
    with live_server.session() as s:
        assert s.scalar(sa.select(SigninThrottle.failures)) == 1
    screenshot(page, "login-error-1280")


def test_repeated_failures_lock_the_address_and_say_until_when(page, live_server, live_org) -> None:
    page.goto("/login")
    for _ in range(5):
        page.get_by_label("Email").fill(live_org.lead.email)
        page.get_by_label("Password").fill("guess")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Try again after 09:01")

    page.get_by_label("Email").fill(live_org.lead.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Too many failed sign-ins")
    expect(page).to_have_url(re.compile(r"/login$"))

    live_server.clock.advance(seconds=61)
    sign_in(page, live_org.lead)
    expect(page).to_have_url(live_server.url + "/register")


def test_sign_out_ends_the_session(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live_server.url + "/login")
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto("/admin")
    expect(page).to_have_url(live_server.url + "/login?next=/admin")


def test_revoking_a_users_tokens_ends_their_web_session(new_page, live_server, live_org) -> None:
    manager = new_page("desktop")
    sign_in(manager, live_org.manager)
    admin = new_page("desktop")
    sign_in(admin, live_org.admin)

    admin.goto(f"/admin/users/{live_org.manager.id}")
    admin.get_by_role("button", name="Revoke all sign-ins").click()
    expect(admin.get_by_text("was signed out on every phone and browser")).to_be_visible()

    # The open board notices at its next poll, without a reload, and goes to the sign-in page.
    expect(manager).to_have_url(re.compile(r"/login\?next=/board$"), timeout=6000)
    expect(manager.get_by_text("You have been signed out")).to_be_visible()


def test_the_session_idles_out(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    live_server.clock.advance(hours=2, minutes=1)
    page.goto("/admin/teams")
    expect(page).to_have_url(live_server.url + "/login?next=/admin/teams")


def test_the_browser_keeps_hashed_assets_without_asking_again(page, live_server, live_org, caplog) -> None:
    sign_in(page, live_org.admin)
    caplog.clear()
    with caplog.at_level("INFO", logger="werkzeug"):
        page.goto("/admin/teams")
        expect(page.get_by_role("heading", name="Teams")).to_be_visible()
    served = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /admin/teams" in line for line in served), served
    # Served from the browser's cache: the server is not asked again, not even for a 304.
    assert not [line for line in served if "/static/" in line], served


def test_a_practitioner_signs_in_on_a_phone(phone_page, live_server, live_org) -> None:
    sign_in(phone_page, live_org.practitioner)
    expect(phone_page).to_have_url(live_server.url + "/app")
    expect(phone_page.get_by_role("button", name="Sign out")).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
