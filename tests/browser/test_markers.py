"""/markers in a real browser: the proposer cannot approve their own marker; a second person
does, and the marker is then in force. Screenshots at 1280 and 768 px go to docs/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from safetycheck.cli import DEMO_PASSWORD
from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Marker
from safetycheck.incidents.enums import IncidentCategory
from tests.browser.conftest import screenshot, sign_in
from tests.browser.incidents import ADDRESS, propose_marker, report

pytestmark = pytest.mark.browser

REASON = "Mother's partner pushed a worker against the door frame on leaving."


def test_a_second_person_approves_a_marker(page, new_page, live_server, demo_org) -> None:
    number = report(live_server, demo_org["priya"])
    marker_id = propose_marker(live_server, demo_org["manager"], number, REASON)
    other = report(
        live_server,
        demo_org["sam"],
        category=IncidentCategory.VERBAL_ABUSE,
        description="Shouted at on the doorstep.",
        harmed=False,
        injury=None,
        address="3 Chapel Row, Leeds LS6 3JT",
    )
    propose_marker(live_server, demo_org["manager"], other, "Dog loose in the garden twice.")

    sign_in(page, demo_org["manager"], DEMO_PASSWORD)
    page.get_by_role("link", name="Markers").click()
    mine = page.locator(f"#marker-{marker_id}")
    expect(mine.get_by_text(REASON)).to_be_visible()
    expect(mine.get_by_text("You proposed this marker, so you cannot approve or reject it")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    lead = new_page("desktop")
    sign_in(lead, demo_org["lead"], DEMO_PASSWORD)
    lead.goto("/markers")
    card = lead.locator(f"#marker-{marker_id}")
    expect(card.get_by_role("heading", name=ADDRESS)).to_be_visible()
    screenshot(lead, "markers")
    tablet = new_page("tablet")
    sign_in(tablet, demo_org["lead"], DEMO_PASSWORD)
    tablet.goto("/markers")
    assert tablet.evaluate("document.documentElement.scrollWidth") <= 768
    screenshot(tablet, "markers-768")

    card.get_by_label("Approval note (optional)").fill("Agreed with the family's social worker.")
    card.get_by_role("button", name="Approve").click()
    expect(lead.get_by_text(f"The marker on {ADDRESS} is now in force")).to_be_visible()
    expect(lead.locator(f"#marker-{marker_id}")).to_have_count(0)
    with live_server.session() as s:
        marker = s.get(Marker, marker_id)
        assert marker.status == MarkerStatus.ACTIVE
        assert marker.decided_by == demo_org["lead"].id
