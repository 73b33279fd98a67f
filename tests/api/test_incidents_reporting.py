"""Reporting paths beside the plain report: one-tap near miss, drafts from alarms, details added later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safetycheck.incidents import service as incident_service
from tests.incidents.helpers import ADDRESS, incident_count, report, texts


def visit(api, address=ADDRESS):
    response = api.post("/api/v1/visits", json={"address": address, "duration_minutes": 30})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- one-tap near miss ----------------------------------------------------------------------------


def test_one_tap_near_miss_from_a_visit(app, as_user, org, clock):
    practitioner = as_user(org.practitioner)
    current = visit(practitioner)
    response = practitioner.post(
        "/api/v1/incidents/near-miss", json={"kind": "did_not_enter", "visit_id": current["id"]}
    )
    assert response.status_code == 201, response.get_json()
    near_miss = response.get_json()
    assert near_miss["status"] == "reported"
    assert (near_miss["near_miss"], near_miss["harmed"], near_miss["near_miss_kind"]) == (
        True,
        False,
        "did_not_enter",
    )
    assert near_miss["category"] == "other"
    assert near_miss["description"] == "Near miss: did not enter."
    assert near_miss["occurred_at"] == "2026-03-02T09:00:00+00:00"
    assert near_miss["address"] == ADDRESS
    assert near_miss["support"]["follow_up_2w_due_at"] is None  # a welfare check only
    [body] = texts(app, to=org.manager)
    assert "reported a near miss (did not enter)" in body


@pytest.mark.parametrize("kind", ["left_early", "asked_for_joint_visit"])
def test_one_tap_near_miss_kinds_with_a_note_and_category(as_user, org, clock, kind):
    response = as_user(org.practitioner).post(
        "/api/v1/incidents/near-miss",
        json={"kind": kind, "address": ADDRESS, "note": "Large dog loose in the hall.", "category": "animal"},
    )
    assert response.status_code == 201
    assert response.get_json()["description"].endswith("Large dog loose in the hall.")
    assert response.get_json()["category"] == "animal"


def test_one_tap_near_miss_refuses_an_unknown_kind(as_user, org, clock):
    response = as_user(org.practitioner).post("/api/v1/incidents/near-miss", json={"kind": "ran_away"})
    assert response.status_code == 422
    assert "kind" in response.get_json()["errors"]


# --- drafts from alarms ----------------------------------------------------------------------------


def resolved_panic(as_user, org, clock):
    practitioner = as_user(org.practitioner)
    current = visit(practitioner)
    alarm = practitioner.post("/api/v1/alarms", json={"kind": "panic", "visit_id": current["id"]})
    assert alarm.status_code == 201, alarm.get_json()
    clock.advance(minutes=3)
    resolved = as_user(org.manager).post(
        f"/api/v1/alarms/{alarm.get_json()['id']}/resolve",
        json={"outcome": "incident", "notes": "Pushed over."},
    )
    assert resolved.status_code == 200, resolved.get_json()
    return current, alarm.get_json()


def test_resolving_an_alarm_as_an_incident_opens_a_draft_outside_the_register(app, as_user, org, clock):
    current, alarm = resolved_panic(as_user, org, clock)
    register = as_user(org.lead).get("/api/v1/incidents").get_json()
    assert register["total"] == 0
    drafts = as_user(org.practitioner).get("/api/v1/incidents?status=draft").get_json()
    [draft] = drafts["items"]
    assert draft["status"] == "draft"
    assert (draft["visit_id"], draft["alarm_id"], draft["address"]) == (current["id"], alarm["id"], ADDRESS)
    assert draft["occurred_at"] == alarm["raised_at"]
    detail = as_user(org.practitioner).get(f"/api/v1/incidents/{draft['id']}").get_json()
    summary_events = [(e["subject"], e["event"]) for e in detail["alarm_summary"]]
    assert ("visit", "checked_in") in summary_events
    assert ("alarm", "raised") in summary_events
    assert ("alarm", "resolved") in summary_events
    assert detail["support"] is None
    assert texts(app, to=org.on_call) == []  # nothing is sent for a draft


def test_the_resolved_alarm_links_its_draft_for_managers(app, as_user, org, clock):
    _, alarm = resolved_panic(as_user, org, clock)
    boss = as_user(org.manager)
    [draft] = boss.get("/api/v1/incidents?status=draft").get_json()["items"]

    assert boss.get(f"/api/v1/alarms/{alarm['id']}").get_json()["incident_id"] == draft["id"]
    [listed] = boss.get("/api/v1/alarms?status=resolved").get_json()["items"]
    assert (listed["id"], listed["incident_id"]) == (alarm["id"], draft["id"])
    again = boss.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "incident"})
    assert again.status_code == 409  # resolved once; the link stays


def test_the_resolve_answer_names_the_draft(as_user, org, clock):
    practitioner = as_user(org.practitioner)
    current = visit(practitioner)
    alarm = practitioner.post("/api/v1/alarms", json={"kind": "panic", "visit_id": current["id"]}).get_json()
    resolved = as_user(org.manager).post(
        f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "incident"}
    )
    [draft] = practitioner.get("/api/v1/incidents?status=draft").get_json()["items"]
    assert resolved.get_json()["incident_id"] == draft["id"]
    assert draft["alarm_id"] == alarm["id"]
    # The worker's own panic alarm, on their visit, leads to their draft too.
    [shown] = practitioner.get(f"/api/v1/visits/{current['id']}").get_json()["alarms"]
    assert shown["incident_id"] == draft["id"]


def test_confirming_the_draft_puts_it_in_the_register_and_tells_the_managers(app, as_user, org, clock):
    resolved_panic(as_user, org, clock)
    [draft] = as_user(org.practitioner).get("/api/v1/incidents?status=draft").get_json()["items"]
    url = f"/api/v1/incidents/{draft['id']}/confirm"

    missing = as_user(org.practitioner).post(url, json={"category": "physical_assault", "near_miss": False})
    assert missing.status_code == 422
    assert "description" in missing.get_json()["errors"]
    valid = {"category": "threat", "description": "Threatened.", "near_miss": False}
    assert as_user(org.colleague).post(url, json=valid).status_code == 404

    confirmed = as_user(org.practitioner).post(
        url,
        json={
            "category": "physical_assault",
            "description": "Pushed against the door frame.",
            "near_miss": False,
            "harmed": True,
            "injury": "Bruised shoulder",
        },
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    data = confirmed.get_json()
    assert data["status"] == "reported"
    assert data["reported_at"] == clock.now().isoformat()
    assert data["riddor"]["classification"] == "pending"  # physical violence starts the RIDDOR clock
    assert data["support"]["welfare_check_due_at"] == (clock.now() + timedelta(hours=24)).isoformat()
    assert as_user(org.lead).get("/api/v1/incidents").get_json()["total"] == 1
    assert any("reported a physical assault" in t for t in texts(app, to=org.manager))
    assert (
        as_user(org.practitioner)
        .post(url, json={"category": "threat", "description": "x", "near_miss": False})
        .status_code
        == 409
    )


def test_drafting_twice_from_one_alarm_returns_the_first_draft(app, as_user, org, clock):
    _, alarm = resolved_panic(as_user, org, clock)
    with app.app_context():
        again = incident_service.draft_from_alarm(alarm["id"], actor_id=org.manager.id, now=clock.now())
        assert again.status == "draft"
    assert incident_count(app) == 1


def test_a_report_linked_to_an_alarm_is_the_alarms_incident(app, as_user, org, clock):
    practitioner = as_user(org.practitioner)
    current = visit(practitioner)
    alarm = practitioner.post("/api/v1/alarms", json={"kind": "panic", "visit_id": current["id"]}).get_json()
    incident = report(practitioner, clock, alarm_id=alarm["id"], address=...)
    assert incident["visit_id"] == current["id"]
    assert incident["address"] == ADDRESS
    second = practitioner.post(
        "/api/v1/incidents",
        json={
            "occurred_at": clock.now().isoformat(),
            "category": "threat",
            "description": "again",
            "near_miss": False,
            "alarm_id": alarm["id"],
        },
    )
    assert second.status_code == 409
    # Resolving the alarm as an incident now finds the report instead of opening a draft.
    as_user(org.manager).post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "incident"})
    assert incident_count(app) == 1


# --- details later ----------------------------------------------------------------------------------


def test_details_added_later_go_on_the_timeline_as_old_and_new(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    clock.advance(hours=2)
    changed = as_user(org.practitioner).patch(
        url, json={"injury": "Scratch on the hand", "police_called": True, "police_reference": "WY-1234"}
    )
    assert changed.status_code == 200, changed.get_json()
    data = changed.get_json()
    assert (data["injury"], data["police_called"], data["police_reference"]) == (
        "Scratch on the hand",
        True,
        "WY-1234",
    )
    entry = data["timeline"][-1]
    assert entry["event"] == "details_updated"
    assert entry["actor_id"] == org.practitioner.id
    assert entry["details"]["changes"]["injury"] == {"old": None, "new": "Scratch on the hand"}
    assert entry["details"]["changes"]["police_called"] == {"old": None, "new": True}

    by_manager = as_user(org.manager).patch(url, json={"category": "threat"}).get_json()
    assert by_manager["timeline"][-1]["details"]["changes"]["category"] == {
        "old": "verbal_abuse",
        "new": "threat",
    }
    unchanged = as_user(org.manager).patch(url, json={"category": "threat"}).get_json()
    assert len(unchanged["timeline"]) == len(by_manager["timeline"])


def test_changing_the_address_moves_the_incident_to_the_new_household(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    moved = (
        as_user(org.practitioner)
        .patch(f"/api/v1/incidents/{incident['id']}", json={"address": "3 Low Lane, Leeds LS2 7AB"})
        .get_json()
    )
    assert moved["household_id"] != incident["household_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"reporter_id": 1}, "reporter_id"),
        ({"harmed": True, "near_miss": True}, "near_miss"),
        ({"occurred_at": "2030-01-01T00:00:00+00:00"}, "occurred_at"),
        ({"description": ""}, "description"),
        ({}, "_schema"),
    ],
)
def test_only_whitelisted_fields_change_and_bad_values_are_422(as_user, org, clock, body, field):
    incident = report(as_user(org.practitioner), clock)
    response = as_user(org.practitioner).patch(f"/api/v1/incidents/{incident['id']}", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    after = as_user(org.practitioner).get(f"/api/v1/incidents/{incident['id']}").get_json()
    assert after["timeline"] == incident["timeline"]


def test_who_may_change_the_report(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    assert as_user(org.colleague).patch(url, json={"injury": "x"}).status_code == 404
    assert as_user(org.lead).patch(url, json={"injury": "x"}).status_code == 403
    assert as_user(org.on_call).patch(url, json={"injury": "x"}).status_code == 200


def test_a_closed_incident_cannot_be_changed(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    manager, lead = as_user(org.manager), as_user(org.lead)
    manager.post(f"{url}/acknowledge", json={})
    manager.post(
        f"{url}/triage",
        json={"harm": "none", "consequence": 1, "likelihood": 1, "investigation_level": "none"},
    )
    manager.post(f"{url}/transition", json={"to": "hs_review"})
    lead.post(f"{url}/feedback", json={"message": "Thank you for reporting."})
    assert lead.post(f"{url}/transition", json={"to": "closed"}).status_code == 200
    response = as_user(org.practitioner).patch(url, json={"injury": "later"})
    assert response.status_code == 409
