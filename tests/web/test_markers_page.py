"""/markers with the Flask test client: proposals waiting for a second person (never the
proposer), rejections with a reason, reviews due, reach, and posts without CSRF."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Marker
from tests.assertions import session
from tests.incidents.helpers import report
from tests.web.html import buttons, error_summary, text

REASON = "Father shouted and swore at a worker on 1 March."


@pytest.fixture
def marker(as_user, org, clock) -> dict[str, Any]:
    """A joint-visit marker proposed by the team's manager from a report at the household."""
    incident = report(as_user(org.practitioner), clock)
    proposed = as_user(org.manager).post(
        f"/api/v1/incidents/{incident['id']}/markers", json={"reason": REASON, "controls": ["joint_visit"]}
    )
    assert proposed.status_code == 201, proposed.get_json()
    return proposed.get_json()


def status_of(app, marker_id: int) -> MarkerStatus:
    with session(app) as s:
        return s.get(Marker, marker_id).status


@pytest.mark.parametrize("who", ["manager", "on_call", "lead", "admin"])
def test_managers_and_leads_open_the_page(web_as, org, who) -> None:
    page = web_as(getattr(org, who)).get("/markers")
    assert page.status_code == 200
    assert "No proposed markers are waiting." in text(page)


def test_a_practitioner_gets_no_markers_page_and_a_stranger_signs_in(web_as, web, org) -> None:
    assert web_as(org.practitioner).get("/markers").status_code == 403
    assert web.get("/markers").location.startswith("/login?next=")


def test_the_proposer_sees_why_they_cannot_approve_and_is_refused(web_as, org, marker, app) -> None:
    proposer = web_as(org.manager)
    page = proposer.get("/markers")
    html = text(page)
    assert REASON in html
    assert "12 High Street, Leeds LS1 4AP" in html
    assert "Joint visits only" in html
    assert "You proposed this marker, so you cannot approve or reject it" in html
    assert "Approve" not in buttons(page)
    assert "Reject" not in buttons(page)

    refused = proposer.post(f"/markers/{marker['id']}/approve")
    assert refused.status_code == 403
    assert "A marker needs a second person" in error_summary(refused)
    assert status_of(app, marker["id"]) == MarkerStatus.PROPOSED


def test_a_second_manager_approves_and_the_marker_is_in_force(web_as, org, marker, app) -> None:
    second = web_as(org.on_call)
    page = second.get("/markers")
    assert {"Approve", "Reject"} <= set(buttons(page))
    assert f'id="approve-{marker["id"]}-note"' in text(page)  # each marker's fields have their own ids
    done = second.post(f"/markers/{marker['id']}/approve", {"note": "Agreed with the family."})
    assert done.status_code == 302
    assert status_of(app, marker["id"]) == MarkerStatus.ACTIVE
    after = second.get("/markers")
    assert "is now in force" in text(after)
    assert "1 marker is in force" in text(after)
    assert "No proposed markers are waiting." in text(after)
    again = second.post(f"/markers/{marker['id']}/approve")
    assert again.status_code == 409
    assert "Only a proposed marker can be approved" in error_summary(again)


def test_rejecting_needs_a_reason(web_as, org, marker, app) -> None:
    lead = web_as(org.lead)
    blank = lead.post(f"/markers/{marker['id']}/reject", {"note": " "})
    assert blank.status_code == 422
    assert "Say why the marker is rejected" in error_summary(blank)
    assert f'href="#reject-{marker["id"]}-note"' in text(blank)
    assert status_of(app, marker["id"]) == MarkerStatus.PROPOSED
    assert lead.post(f"/markers/{marker['id']}/reject", {"note": "Not enough evidence."}).status_code == 302
    assert status_of(app, marker["id"]) == MarkerStatus.REJECTED


def test_another_teams_manager_neither_sees_nor_decides(web_as, org, marker, app) -> None:
    stranger = web_as(org.other_manager)
    assert REASON not in text(stranger.get("/markers"))
    assert stranger.post(f"/markers/{marker['id']}/approve").status_code == 404
    assert stranger.post("/markers/999999/approve").status_code == 404
    assert status_of(app, marker["id"]) == MarkerStatus.PROPOSED


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(web_as, org, marker, app) -> None:
    lead = web_as(org.lead)
    refused = lead.post(f"/markers/{marker['id']}/approve", csrf=False)
    assert refused.status_code == 400
    assert "nothing was changed" in text(refused)
    assert status_of(app, marker["id"]) == MarkerStatus.PROPOSED


def test_markers_due_for_review_are_listed_with_their_date(web_as, org, marker, clock, app) -> None:
    lead = web_as(org.lead)
    lead.post(f"/markers/{marker['id']}/approve")
    assert "No markers are due for review." in text(lead.get("/markers"))
    with session(app) as s:
        review_at = s.get(Marker, marker["id"]).review_at
    clock.set(review_at - timedelta(days=10))
    lead = web_as(org.lead)  # months later: a new sign-in
    page = text(lead.get("/markers"))
    assert "Due for review (1)" in page
    due = page.split("Due for review (1)")[1]
    assert REASON in due
    assert "in 10 days" in due
    clock.set(review_at + timedelta(hours=1))  # before the sweep marks it expired
    assert "Review date passed" in text(web_as(org.lead).get("/markers"))


def test_the_pages_carry_no_inline_code(web_as, org, marker) -> None:
    """The CSP forbids inline scripts, handlers and styles: these pages use none."""

    for who, path in (
        (org.on_call, "/markers"),
        (org.manager, f"/register/incidents/{marker['incident_id']}"),
    ):
        page = web_as(who).get(path)
        assert page.status_code == 200, path
        html = text(page)
        nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
        assert not re.search(r"\son[a-z]+\s*=", html), "an on*= handler"
        assert not re.search(r"\sstyle\s*=", html), "a style attribute"
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
