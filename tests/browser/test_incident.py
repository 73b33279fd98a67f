"""The incident page in a real browser: a manager acknowledges a report, another team's
incident is not found, and a form without its CSRF token changes nothing. Screenshots at 1280
and 768 px go to docs/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from safetycheck.cli import DEMO_PASSWORD
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident
from tests.browser.conftest import screenshot, sign_in
from tests.browser.incidents import report

pytestmark = pytest.mark.browser


def status_of(live_server, incident_id: int) -> IncidentStatus:
    with live_server.session() as s:
        return s.get(Incident, incident_id).status


def test_a_manager_opens_an_incident_and_acknowledges_it(page, tablet_page, live_server, demo_org) -> None:
    number = report(live_server, demo_org["priya"])
    live_server.clock.advance(minutes=4)
    sign_in(page, demo_org["manager"], DEMO_PASSWORD)
    page.goto(f"/register/incidents/{number}")
    expect(page.get_by_role("heading", name="Physical assault", level=1)).to_be_visible()
    expect(page.get_by_text("Pushed against the door frame")).to_be_visible()
    expect(page.get_by_text("Report to HSE by")).to_be_visible()  # the RIDDOR deadline
    screenshot(page, "incident")

    page.get_by_label("Note (optional)").fill("Called Priya: she is safe and back at the office.")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("The incident was acknowledged.")).to_be_visible()
    expect(page.locator(".sc-tags").get_by_text("Acknowledged")).to_be_visible()
    expect(page.get_by_role("button", name="Save triage")).to_be_visible()
    assert status_of(live_server, number) == IncidentStatus.ACKNOWLEDGED

    sign_in(tablet_page, demo_org["manager"], DEMO_PASSWORD)
    tablet_page.goto(f"/register/incidents/{number}")
    expect(tablet_page.get_by_role("button", name="Save triage")).to_be_visible()
    width = tablet_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, "the page scrolls sideways at 768 px"
    screenshot(tablet_page, "incident-768")


def test_another_teams_incident_url_answers_404(page, live_server, demo_org) -> None:
    number = report(live_server, demo_org["priya"])
    sign_in(page, demo_org["oncall"], DEMO_PASSWORD)  # a manager of the duty team, not Priya's
    response = page.goto(f"/register/incidents/{number}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_text("Pushed against")).to_have_count(0)


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    page, live_server, demo_org
) -> None:
    number = report(live_server, demo_org["priya"])
    sign_in(page, demo_org["manager"], DEMO_PASSWORD)
    page.goto(f"/register/incidents/{number}")
    form = page.locator(f'form[action="/register/incidents/{number}/acknowledge"]')
    form.locator('input[name="csrf_token"]').evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.url.endswith("/acknowledge")) as answer:
        form.get_by_role("button", name="Acknowledge").click()
    assert answer.value.status == 400
    expect(page.get_by_text("nothing was changed")).to_be_visible()
    assert status_of(live_server, number) == IncidentStatus.REPORTED

    page.goto(f"/register/incidents/{number}")  # with the token, the same button works
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("The incident was acknowledged.")).to_be_visible()
    assert status_of(live_server, number) == IncidentStatus.ACKNOWLEDGED
