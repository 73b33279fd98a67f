"""/admin in a real browser: adding people (with a field error first), teams, the policy, and
that no other role gets in. Screenshots of each page at 1280 and 768 px go to docs/screenshots/."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from safetycheck.accounts.models import Team, User
from safetycheck.cli import DEMO_PASSWORD
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_an_admin_adds_a_person_after_fixing_a_bad_phone(page, live_server, demo_org) -> None:
    sign_in(page, demo_org["admin"], DEMO_PASSWORD)
    page.get_by_role("navigation", name="Admin pages").get_by_role("link", name="People").click()
    page.get_by_role("button", name="Add a person").click()
    expect(page.get_by_role("heading", name="Add a person")).to_be_visible()

    page.get_by_label("Full name").fill("Nia Newcomer")
    page.get_by_label("Email address").fill("nia@example.test")
    page.get_by_label("Mobile phone number").fill("12345")
    page.get_by_label("Practitioner").check()
    page.get_by_label("Team").select_option(label="Northside Children's Services")
    page.get_by_label("First password").fill("a good first password")
    page.get_by_role("button", name="Add person").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    screenshot(page, "admin-add-person-error-1280")
    summary.get_by_role("link").first.click()  # the summary's link takes you to the field
    expect(page.get_by_label("Mobile phone number")).to_be_focused()
    expect(page.locator("#phone-error")).to_be_visible()
    with live_server.session() as s:
        assert s.scalar(sa.select(User).where(User.email == "nia@example.test")) is None

    page.get_by_label("Mobile phone number").fill("07700 900777")
    page.get_by_label("First password").fill("a good first password")  # never sent back
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_text("Nia Newcomer was added")).to_be_visible()
    expect(page.get_by_role("heading", name="Nia Newcomer")).to_be_visible()
    with live_server.session() as s:
        nia = s.scalar(sa.select(User).where(User.email == "nia@example.test"))
        assert nia.phone == "+447700900777"


def test_an_admin_adds_a_team_with_the_keyboard(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    page.goto("/admin/teams")
    page.get_by_label("Team name").focus()
    page.keyboard.type("Eastside Family Support")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Team Eastside Family Support was added.")).to_be_visible()
    expect(page.get_by_role("cell", name="Eastside Family Support")).to_be_visible()
    with live_server.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Team)) == 3


def test_other_roles_get_no_admin(new_page, live_server, live_org) -> None:
    for who in ("manager", "lead", "practitioner"):
        page = new_page("desktop")
        sign_in(page, getattr(live_org, who))
        expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
        response = page.goto("/admin/users")
        assert response is not None
        assert response.status == 403
        expect(page.get_by_role("heading", name="You cannot open this page")).to_be_visible()


def test_a_form_posted_without_its_csrf_token_is_refused(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    page.goto("/admin/teams")
    page.locator("main form input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Team name").fill("Forged Team")
    page.get_by_role("button", name="Add team").click()
    expect(page.get_by_role("heading", name="The form could not be sent")).to_be_visible()
    with live_server.session() as s:
        assert s.scalar(sa.select(Team).where(Team.name == "Forged Team")) is None


@pytest.mark.parametrize(("fixture", "width"), [("page", 1280), ("tablet_page", 768)])
def test_admin_pages_screenshots(request, live_server, demo_org, fixture, width) -> None:
    page = request.getfixturevalue(fixture)
    with live_server.session() as s:
        flagged = s.get(User, demo_org["sam"].id)
        flagged.phone_undeliverable_at = live_server.clock.now()
        flagged.phone_undeliverable_reason = "21610: the recipient replied STOP"
        s.commit()
    sign_in(page, demo_org["admin"], DEMO_PASSWORD)
    for path, name, heading in [
        ("/admin", "admin", "Admin"),
        ("/admin/users", "admin-people", "People"),
        (f"/admin/users/{demo_org['priya'].id}", "admin-person", demo_org["priya"].name),
        ("/admin/teams", "admin-teams", "Teams"),
        ("/admin/numbers", "admin-numbers", "Undeliverable numbers"),
        ("/admin/policy", "admin-policy", "Escalation policy"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_have_count(1)  # the contract's name, once
        # Nothing wider than the window: no sideways scrolling at this width.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        screenshot(page, f"{name}-{width}")


def test_focus_is_visible_on_links_and_buttons(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    page.goto("/admin")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    focused = page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
    assert focused == "rgb(255, 221, 0)", focused  # GOV.UK's yellow focus state


def test_the_policy_page_reads_in_words(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    page.goto("/admin/policy")
    overdue = page.locator("table").first
    expect(overdue).to_contain_text("After 10 min")
    expect(overdue).to_contain_text("Every 10 min until someone takes charge")
    expect(page.get_by_text(re.compile("reminder 5 min before the due time"))).to_be_visible()


def test_htmx_is_loaded_and_its_posts_carry_the_csrf_token(page, live_server, live_org) -> None:
    sign_in(page, live_org.admin)
    page.goto("/admin/teams")
    page.wait_for_function("typeof window.htmx === 'object'")
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False  # no <style> for the CSP to refuse
    status = page.evaluate(
        """() => new Promise(resolve => {
            document.body.addEventListener(
                'htmx:afterRequest', e => resolve(e.detail.xhr.status), {once: true})
            htmx.ajax('POST', '/admin/teams',
                {source: document.body, values: {name: 'Added by htmx'}, swap: 'none'})
        })"""
    )
    assert status == 200  # the redirect after the post, followed
    with live_server.session() as s:
        assert s.scalar(sa.select(Team).where(Team.name == "Added by htmx")) is not None
