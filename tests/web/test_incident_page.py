"""/register/incidents/<id> with the Flask test client: who may open it, each step of the
procedure as a form post, refusals as form errors, and posts without CSRF changing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Marker
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident, IncidentAction
from safetycheck.timeline.models import TimelineEntry
from tests.api.test_duress_leaks import duress_draft
from tests.assertions import count, session
from tests.incidents.helpers import report
from tests.web.html import buttons, error_summary, text

S = IncidentStatus


@pytest.fixture
def incident(as_user, org, clock) -> dict[str, Any]:
    """A verbal-abuse report by the team's practitioner, at an address (so it has a household)."""
    return report(as_user(org.practitioner), clock)


def url(incident: dict[str, Any] | int, step: str = "") -> str:
    number = incident if isinstance(incident, int) else incident["id"]
    return f"/register/incidents/{number}" + (f"/{step}" if step else "")


def status_of(app, incident_id: int) -> IncidentStatus:
    with session(app) as s:
        return s.get(Incident, incident_id).status


# --- who may open it -------------------------------------------------------------------------------


def test_the_team_manager_sees_the_report_and_may_acknowledge(web_as, org, incident) -> None:
    page = web_as(org.manager).get(url(incident))
    assert page.status_code == 200
    html = text(page)
    for shown in (
        "Verbal abuse",
        "Shouted at and sworn at on the doorstep by the father.",
        org.practitioner.name,
        org.team.name,
        "12 High Street, Leeds LS1 4AP",
        "Reported",
        "Target:",
    ):
        assert shown in html, shown
    assert "Acknowledge" in buttons(page)
    assert f"<title>Incident {incident['id']} \N{EN DASH} SafetyCheck" in html


def test_a_lead_reads_it_but_only_team_managers_acknowledge(web_as, org, incident) -> None:
    page = web_as(org.lead).get(url(incident))
    assert page.status_code == 200
    assert "Shouted at and sworn at" in text(page)
    assert "Acknowledge" not in buttons(page)
    assert "Acknowledge" in buttons(web_as(org.admin).get(url(incident)))


def test_another_teams_incident_is_not_found(web_as, org, incident, app) -> None:
    stranger = web_as(org.other_manager)
    page = stranger.get(url(incident))
    assert page.status_code == 404
    assert "Page not found" in text(page)
    assert "Shouted" not in text(page)
    assert stranger.get(url(999_999)).status_code == 404
    assert stranger.post(url(incident, "acknowledge")).status_code == 404
    assert status_of(app, incident["id"]) == S.REPORTED


def test_a_practitioner_gets_no_incident_page(web_as, org, incident) -> None:
    page = web_as(org.practitioner).get(url(incident))
    assert page.status_code == 403
    assert "Shouted" not in text(page)


def test_a_stranger_is_sent_to_sign_in(web, incident) -> None:
    page = web.get(url(incident))
    assert page.status_code == 302
    assert page.location.startswith("/login?next=")


# --- the steps ---------------------------------------------------------------------------------------


def test_acknowledging_moves_it_on_and_offers_triage(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    manager.get(url(incident))
    done = manager.post(url(incident, "acknowledge"), {"note": "Spoke to Priya by phone."})
    assert done.status_code == 302
    assert status_of(app, incident["id"]) == S.ACKNOWLEDGED
    page = manager.get(done.location)
    assert "The incident was acknowledged." in text(page)
    assert "Save triage" in buttons(page)
    assert "Acknowledge" not in buttons(page)
    assert "Spoke to Priya by phone." in text(page)  # on the timeline


def test_a_refused_step_is_a_form_error_and_changes_nothing(web_as, org, incident, app) -> None:
    first, second = web_as(org.manager), web_as(org.on_call)
    second.get(url(incident))  # the page is open in another manager's browser
    assert first.post(url(incident, "acknowledge")).status_code == 302
    with session(app) as s:
        entries = s.scalar(sa.select(sa.func.count()).select_from(TimelineEntry))

    stale = second.post(url(incident, "acknowledge"))
    assert stale.status_code == 409
    assert "Only a reported incident can be acknowledged" in error_summary(stale)
    assert "<title>Error: Incident" in text(stale)
    assert status_of(app, incident["id"]) == S.ACKNOWLEDGED
    with session(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)) == entries


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    refused = manager.post(url(incident, "acknowledge"), csrf=False)
    assert refused.status_code == 400
    assert "nothing was changed" in text(refused)
    forged = manager.post(url(incident, "acknowledge"), {"csrf_token": "forged"}, csrf=False)
    assert forged.status_code == 400
    assert status_of(app, incident["id"]) == S.REPORTED


def test_triage_names_missing_fields_then_saves(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    manager.post(url(incident, "acknowledge"))
    missing = manager.post(url(incident, "triage"), {"consequence": "3"})
    assert missing.status_code == 422
    summary = error_summary(missing)
    assert "Select the harm done" in summary
    assert "Select a level" in summary
    assert 'href="#harm"' in text(missing)
    assert status_of(app, incident["id"]) == S.ACKNOWLEDGED

    triage = {"harm": "psychological", "consequence": "3", "likelihood": "4", "investigation_level": "local"}
    assert manager.post(url(incident, "triage"), triage).status_code == 302
    with session(app) as s:
        saved = s.get(Incident, incident["id"])
        assert (saved.status, saved.risk_score) == (S.TRIAGED, 12)
    page = manager.get(url(incident))
    assert "Risk score 12 (3 \N{MULTIPLICATION SIGN} 4)" in text(page)
    assert "Start the investigation" in buttons(page)
    assert "Send for health and safety review" not in buttons(page)  # level local: investigate first


def test_the_whole_procedure_through_the_page(web_as, org, incident, app, clock) -> None:
    manager, lead = web_as(org.manager), web_as(org.lead)
    number = incident["id"]
    manager.post(url(number, "acknowledge"))
    triage = {"harm": "none", "consequence": "2", "likelihood": "2", "investigation_level": "manager_review"}
    manager.post(url(number, "triage"), triage)
    assert manager.post(url(number, "transition"), {"to": "under_investigation"}).status_code == 302

    no_action = manager.post(url(number, "transition"), {"to": "actions_open"})
    assert no_action.status_code == 409
    assert "Add at least one action" in error_summary(no_action)
    assert status_of(app, number) == S.UNDER_INVESTIGATION

    page = manager.get(url(number))
    assert "Move to actions open" not in buttons(page)  # offered only once an action is open
    past = manager.post(
        url(number, "actions"),
        {"title": "Review lone visits", "owner_id": str(org.manager.id), "due_on": "2000-01-01"},
    )
    assert past.status_code == 422
    assert "Must lie in the future" in error_summary(past)
    assert 'href="#due_on"' in text(past)
    due = (clock.now() + timedelta(days=7)).date().isoformat()
    added = manager.post(
        url(number, "actions"),
        {"title": "Review lone visits", "owner_id": str(org.manager.id), "due_on": due},
    )
    assert added.status_code == 302
    assert "Move to actions open" in buttons(manager.get(url(number)))
    assert manager.post(url(number, "transition"), {"to": "actions_open"}).status_code == 302
    with session(app) as s:
        action_id = s.scalar(sa.select(IncidentAction.id).where(IncidentAction.incident_id == number))
    assert manager.post(url(number, f"actions/{action_id}/done")).status_code == 302
    assert manager.post(url(number, "transition"), {"to": "hs_review"}).status_code == 302
    assert status_of(app, number) == S.HS_REVIEW

    page = lead.get(url(number))
    assert "Close the incident" not in buttons(page)
    assert "first give the reporter feedback" in text(page)
    unfed = lead.post(url(number, "transition"), {"to": "closed"})
    assert unfed.status_code == 409
    assert "cannot close without feedback" in error_summary(unfed)
    assert status_of(app, number) == S.HS_REVIEW
    blank = lead.post(url(number, "feedback"), {"message": "  "})
    assert blank.status_code == 422
    assert "Write the feedback for the reporter" in error_summary(blank)
    assert lead.post(url(number, "feedback"), {"message": "Joint visits from now on."}).status_code == 302
    assert "Close the incident" in buttons(lead.get(url(number)))
    assert lead.post(url(number, "transition"), {"to": "closed"}).status_code == 302
    assert status_of(app, number) == S.CLOSED

    page = manager.get(url(number))
    assert "Reopen the incident" in buttons(page)
    no_reason = manager.post(url(number, "reopen"), {"reason": ""})
    assert no_reason.status_code == 422
    assert "Say why the incident is reopened" in error_summary(no_reason)
    assert manager.post(url(number, "reopen"), {"reason": "The father called again."}).status_code == 302
    assert status_of(app, number) == S.UNDER_INVESTIGATION
    assert "The father called again." in text(manager.get(url(number)))


def test_a_manager_cannot_take_a_leads_step(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    manager.post(url(incident, "acknowledge"))
    manager.post(
        url(incident, "triage"),
        {"harm": "none", "consequence": "1", "likelihood": "1", "investigation_level": "none"},
    )
    assert manager.post(url(incident, "transition"), {"to": "hs_review"}).status_code == 302
    assert "Send back for investigation" not in buttons(manager.get(url(incident)))
    refused = manager.post(url(incident, "transition"), {"to": "under_investigation"})
    assert refused.status_code == 403
    assert "Only a health-and-safety lead" in error_summary(refused)
    nonsense = manager.post(url(incident, "transition"), {"to": "deleted"})
    assert nonsense.status_code == 422
    assert status_of(app, incident["id"]) == S.HS_REVIEW
    lead = web_as(org.lead)
    assert "Send back for investigation" in buttons(lead.get(url(incident)))
    assert lead.post(url(incident, "transition"), {"to": "under_investigation"}).status_code == 302
    assert status_of(app, incident["id"]) == S.UNDER_INVESTIGATION


def test_asking_the_reporter_waits_for_their_answer(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    manager.post(url(incident, "acknowledge"))
    assert "Send the question" in buttons(manager.get(url(incident)))
    asked = manager.post(url(incident, "request-information"), {"question": "Was anyone else there?"})
    assert asked.status_code == 302
    assert status_of(app, incident["id"]) == S.INFORMATION_REQUIRED
    page = manager.get(url(incident))
    assert "Was anyone else there?" in text(page)
    assert "the reporter, to answer the question" in text(page)


def test_proposing_a_marker_from_the_incident(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    empty = manager.post(url(incident, "markers"), {"marker_reason": ""})
    assert empty.status_code == 422
    assert "Give the facts the marker rests on" in error_summary(empty)
    assert count(app, Marker) == 0
    proposed = manager.post(
        url(incident, "markers"),
        {"marker_reason": "Father shouted and swore at a worker.", "controls": "joint_visit"},
    )
    assert proposed.status_code == 302
    with session(app) as s:
        marker = s.scalar(sa.select(Marker))
        assert (marker.status, marker.controls) == (MarkerStatus.PROPOSED, ["joint_visit"])
    assert "waiting for approval" in text(manager.get(url(incident)))


# --- a duress incident ------------------------------------------------------------------------------


def test_a_duress_incident_is_the_managers_and_never_asks_the_practitioner(
    web_as, org, app, clock, as_user
) -> None:
    _, alarm = duress_draft(app, clock, org, as_user)
    number = alarm["incident_id"]
    manager = web_as(org.manager)
    draft = manager.get(url(number))
    assert draft.status_code == 200
    assert "the draft must be confirmed first" in text(draft)
    body = {"category": "threat", "description": "Made to check out.", "near_miss": False}
    assert as_user(org.manager).post(f"/api/v1/incidents/{number}/confirm", json=body).status_code == 200
    manager.post(url(number, "acknowledge"))
    page = manager.get(url(number))
    assert "Send the question" not in buttons(page)
    assert "Speak to them in person" in text(page)
    refused = manager.post(url(number, "request-information"), {"question": "What happened?"})
    assert refused.status_code == 409
    assert "cannot be asked through SafetyCheck" in error_summary(refused)
    assert f"{org.practitioner.name} (reporter)" not in text(page)  # no action can be theirs
    # The practitioner's answer is the same as for any incident page: no page for their role.
    practitioner = web_as(org.practitioner)
    assert practitioner.get(url(number)).status_code == 403
    assert "Made to check out" not in text(practitioner.get(url(number)))


# --- the tracks ---------------------------------------------------------------------------------------


def test_the_riddor_deadline_and_the_hse_report(web_as, org, as_user, clock, app) -> None:
    assault = report(
        as_user(org.practitioner), clock, category="physical_assault", harmed=True, injury="Bruised arm"
    )
    lead = web_as(org.lead)
    page = lead.get(url(assault))
    assert "Report to HSE by" in text(page)
    assert "15 days left" in text(page)
    blank = lead.post(url(assault, "riddor/submission"), {"hse_reference": ""})
    assert blank.status_code == 422
    assert "Enter the reference HSE gave" in error_summary(blank)
    assert lead.post(url(assault, "riddor/submission"), {"hse_reference": "RIDDOR-4471"}).status_code == 302
    page = lead.get(url(assault))
    assert "RIDDOR-4471" in text(page)
    assert "Record the HSE report" not in buttons(page)
    with session(app) as s:
        assert s.get(Incident, assault["id"]).riddor_state == "submitted"


def test_support_steps_are_recorded_by_their_buttons(web_as, org, incident, app) -> None:
    manager = web_as(org.manager)
    page = manager.get(url(incident))
    assert {"Welfare check done", "Debrief offered", "2-week follow-up done"} <= set(buttons(page))
    assert manager.post(url(incident, "support"), {"step": "welfare_check_done"}).status_code == 302
    page = manager.get(url(incident))
    assert "Welfare check done" not in buttons(page)
    assert "Support recorded" in text(page)  # on the timeline
    assert manager.post(url(incident, "support"), {"step": "referrals"}).status_code == 422
    assert (
        web_as(org.other_manager).post(url(incident, "support"), {"step": "debrief_offered"}).status_code
        == 404
    )
    with session(app) as s:
        row = s.get(Incident, incident["id"]).support
        assert row.welfare_check_done_at is not None
        assert row.debrief_offered_at is None
