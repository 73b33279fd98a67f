"""The tracks beside the procedure: RIDDOR deadlines, the worker's support, targets and reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from safetycheck.extensions import db
from safetycheck.incidents import jobs
from tests.incidents.helpers import report, texts


def riddor(api, incident_id, **body):
    return api.put(f"/api/v1/incidents/{incident_id}/riddor", json={"physical": True, **body})


@pytest.fixture
def people(as_user, org):
    """Signed in before any request: the test client shares one session with the test, so a token
    made between requests would be undone by the next request's rollback on a 4xx."""
    return SimpleNamespace(
        worker=as_user(org.practitioner), manager=as_user(org.manager), colleague=as_user(org.colleague)
    )


@pytest.fixture
def assault(people, clock):
    # Monday 2 March 2026, 08:50 UTC (GMT): the incident day is 2 March.
    return report(people.worker, clock, category="physical_assault", harmed=True)


# --- RIDDOR ---------------------------------------------------------------------------------------


def test_physical_violence_starts_the_riddor_clock_at_once(as_user, org, assault):
    track = assault["riddor"]
    assert (track["classification"], track["state"]) == ("pending", "pending")
    assert track["report_by"] == "2026-03-17"  # 15 days after the incident, if it becomes over-7-day
    assert track["days_left"] == 15
    assert assault["riddor_state"] == "pending"


def test_a_specified_injury_must_be_reported_within_10_days_then_is_submitted(as_user, org, clock, assault):
    manager = as_user(org.manager)
    clock.advance(days=3)
    screened = riddor(manager, assault["id"], specified_injury=True).get_json()["riddor"]
    assert (screened["classification"], screened["state"]) == ("specified_injury", "reportable")
    assert (screened["report_by"], screened["days_left"]) == ("2026-03-12", 7)
    assert manager.get("/api/v1/incidents?riddor=open").get_json()["total"] == 1

    missing = manager.post(f"/api/v1/incidents/{assault['id']}/riddor/submission", json={})
    assert missing.status_code == 422
    assert "hse_reference" in missing.get_json()["errors"]
    submitted = manager.post(
        f"/api/v1/incidents/{assault['id']}/riddor/submission", json={"hse_reference": "RIDDOR-2026-001"}
    ).get_json()
    assert submitted["riddor"]["hse_reference"] == "RIDDOR-2026-001"
    assert (submitted["riddor"]["state"], submitted["riddor"]["days_left"]) == ("submitted", None)
    assert submitted["riddor_state"] == "submitted"
    assert manager.get("/api/v1/incidents?riddor=open").get_json()["total"] == 0
    assert manager.get("/api/v1/incidents?riddor=submitted").get_json()["total"] == 1
    again = manager.post(f"/api/v1/incidents/{assault['id']}/riddor/submission", json={"hse_reference": "X"})
    assert again.status_code == 409


def test_a_worker_still_off_becomes_reportable_on_the_eighth_day(app, as_user, org, clock, sweep, assault):
    screened = riddor(as_user(org.manager), assault["id"], incapacitated=True).get_json()["riddor"]
    assert screened["classification"] == "pending"

    clock.set(datetime(2026, 3, 9, 23, 59, tzinfo=UTC))  # 7 days off: not yet over 7
    sweep()
    assert (
        as_user(org.manager).get(f"/api/v1/incidents/{assault['id']}").get_json()["riddor_state"] == "pending"
    )
    clock.set(datetime(2026, 3, 10, 0, 1, tzinfo=UTC))
    sweep()
    detail = as_user(org.manager).get(f"/api/v1/incidents/{assault['id']}").get_json()
    assert (detail["riddor"]["classification"], detail["riddor_state"]) == ("over_7_day", "reportable")
    assert detail["riddor"]["days_left"] == 7
    assert detail["timeline"][-1]["event"] == "riddor_reclassified"


def test_back_at_work_within_three_days_is_not_reportable(as_user, org, clock, assault):
    clock.advance(days=5)
    track = riddor(as_user(org.manager), assault["id"], incapacitated=True, first_day_back="2026-03-06")
    assert track.get_json()["riddor"]["classification"] == "not_reportable"  # Tue to Thu: 3 days
    clock.advance(days=3)
    assert (
        riddor(as_user(org.manager), assault["id"], first_day_back="2026-03-09").get_json()["riddor"][
            "classification"
        ]
        == "record_only"
    )  # Tue to Sun: 6 days


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_day_back": "2026-03-20"}, "first_day_back"),  # the future
        ({"first_day_back": "2026-02-01"}, "first_day_back"),  # before the incident
        ({"incapacitated": False, "first_day_back": "2026-03-02"}, "first_day_back"),
        ({"physical": "yes"}, "physical"),
    ],
)
def test_bad_riddor_screens_are_422_and_change_nothing(as_user, org, assault, body, field):
    response = riddor(as_user(org.manager), assault["id"], **body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    after = as_user(org.manager).get(f"/api/v1/incidents/{assault['id']}").get_json()
    assert after["riddor"] == assault["riddor"]


def test_threats_are_not_reportable_and_practitioners_cannot_screen(as_user, org, clock):
    threat = report(as_user(org.practitioner), clock, category="threat")
    assert threat["riddor"] is None
    assert riddor(as_user(org.practitioner), threat["id"]).status_code == 403
    screened = (
        as_user(org.manager)
        .put(f"/api/v1/incidents/{threat['id']}/riddor", json={"physical": False})
        .get_json()
    )
    assert screened["riddor"]["classification"] == "not_reportable"


# --- support --------------------------------------------------------------------------------------


def test_the_support_track_the_worker_sees_and_controls(people, clock, assault):
    url = f"/api/v1/incidents/{assault['id']}/support"
    support = assault["support"]
    assert support["welfare_check_due_at"] == "2026-03-03T09:00:00+00:00"  # harmed: within 24 hours
    assert support["follow_up_2w_due_at"] == "2026-03-16T09:00:00+00:00"
    assert support["follow_up_6w_due_at"] == "2026-04-13T09:00:00+00:00"
    worker, manager = people.worker, people.manager

    assert worker.patch(url, json={"welfare_check_done": True}).status_code == 403
    assert worker.patch(url, json={"debrief_response": "accepted"}).status_code == 409  # not offered yet
    assert manager.patch(url, json={"debrief_response": "accepted"}).status_code == 403
    offered = manager.patch(
        url, json={"welfare_check_done": True, "debrief_offered": True, "referrals": ["counselling"]}
    ).get_json()["support"]
    assert offered["welfare_check_done_at"] is not None
    assert offered["referrals"] == ["counselling"]
    assert [p["item"] for p in offered["pending"]] == ["follow_up_2w", "follow_up_6w"]

    answered = worker.patch(url, json={"debrief_response": "declined", "decline_follow_ups": True}).get_json()
    assert answered["support"]["debrief_response"] == "declined"
    assert answered["support"]["pending"] == []
    assert answered["timeline"][-1]["event"] == "support_updated"
    assert people.colleague.patch(url, json={"decline_follow_ups": True}).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"referrals": ["astrologer"]}, "referrals"),
        ({"welfare_check_done": False}, "welfare_check_done"),
        ({}, "_schema"),
    ],
)
def test_bad_support_updates_are_422(as_user, org, assault, body, field):
    response = as_user(org.manager).patch(f"/api/v1/incidents/{assault['id']}/support", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_an_overdue_welfare_check_reminds_the_managers_daily_without_repeats(app, as_user, org, clock, sweep):
    incident = report(as_user(org.practitioner), clock, category="verbal_abuse")  # 72 hours
    as_user(org.manager).post(f"/api/v1/incidents/{incident['id']}/acknowledge", json={})
    clock.advance(hours=71)
    sweep()
    assert not [t for t in texts(app, to=org.manager) if "welfare check" in t]
    clock.advance(hours=2)
    sweep()
    sweep()
    assert len([t for t in texts(app, to=org.manager) if "welfare check" in t]) == 1
    clock.advance(hours=24)
    sweep()
    assert len([t for t in texts(app, to=org.manager) if "welfare check" in t]) == 2
    as_user(org.manager).patch(
        f"/api/v1/incidents/{incident['id']}/support", json={"welfare_check_done": True}
    )
    clock.advance(hours=24)
    sweep()
    assert len([t for t in texts(app, to=org.manager) if "welfare check" in t]) == 2


# --- targets and reminders ------------------------------------------------------------------------


def test_an_unacknowledged_report_reminds_its_managers_after_24_hours(app, as_user, org, clock, sweep):
    incident = report(as_user(org.practitioner), clock)
    assert incident["step_due_at"] == "2026-03-03T09:00:00+00:00"
    clock.advance(hours=23)
    sweep()
    assert not [t for t in texts(app, to=org.manager) if "reminder" in t]
    clock.advance(hours=2)
    sweep()
    [reminder] = [t for t in texts(app, to=org.manager) if "reminder" in t]
    assert f"incident {incident['id']}" in reminder
    assert "waiting to be acknowledged" in reminder
    with app.app_context():  # a second sweeper at the same moment sends nothing more
        assert jobs.remind_overdue_steps(db.session, clock.now()) == 0
        db.session.commit()
    assert len([t for t in texts(app, to=org.manager) if "reminder" in t]) == 1


def test_acknowledged_on_tuesday_triage_is_due_thursday_and_friday_rolls_over_the_weekend(
    as_user, org, clock
):
    incident = report(as_user(org.practitioner), clock)
    clock.advance(days=1, hours=1)  # Tuesday 10:00
    acked = as_user(org.manager).post(f"/api/v1/incidents/{incident['id']}/acknowledge", json={}).get_json()
    assert acked["step_due_at"] == "2026-03-05T10:00:00+00:00"
    clock.set(datetime(2026, 3, 6, 15, 0, tzinfo=UTC))  # Friday
    friday = report(as_user(org.practitioner), clock)
    acked = as_user(org.manager).post(f"/api/v1/incidents/{friday['id']}/acknowledge", json={}).get_json()
    assert acked["step_due_at"] == "2026-03-10T15:00:00+00:00"  # Tuesday


def test_a_serious_report_is_due_within_15_minutes_and_chased_by_its_alarm_not_by_reminders(
    app, as_user, org, clock, sweep
):
    incident = report(as_user(org.practitioner), clock, category="prevented_from_leaving")
    assert incident["step_due_at"] == "2026-03-02T09:15:00+00:00"
    clock.advance(minutes=20)
    sweep()
    assert not [t for t in texts(app, to=org.manager) if t.startswith("SafetyCheck reminder")]
    assert [t for t in texts(app, to=org.manager, purpose=None) if "SAFETYCHECK INCIDENT" in t]


def test_hs_review_reminds_the_leads_and_information_required_the_reporter(app, as_user, org, clock, sweep):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    manager = as_user(org.manager)
    manager.post(f"{url}/acknowledge", json={})
    manager.post(f"{url}/request-information", json={"question": "Which door?"})
    clock.advance(days=8)  # 5 working days
    sweep()
    assert [t for t in texts(app, to=org.practitioner) if "question waiting for your answer" in t]
    as_user(org.practitioner).post(f"{url}/provide-information", json={"answer": "The back door."})
    manager.post(
        f"{url}/triage",
        json={"harm": "none", "consequence": 1, "likelihood": 1, "investigation_level": "none"},
    )
    manager.post(f"{url}/transition", json={"to": "hs_review"})
    clock.advance(days=15)
    sweep()
    assert [t for t in texts(app, to=org.lead) if "health-and-safety review" in t]


def test_an_overdue_action_reminds_its_owner(app, as_user, org, clock, sweep):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    manager = as_user(org.manager)
    manager.post(f"{url}/acknowledge", json={})
    due = clock.now() + timedelta(days=2)
    added = manager.post(
        f"{url}/actions",
        json={"title": "Risk assessment", "owner_id": org.on_call.id, "due_at": due.isoformat()},
    )
    assert added.status_code == 201
    clock.advance(days=2, minutes=1)
    sweep()
    [reminder] = [t for t in texts(app, to=org.on_call) if "your action" in t]
    assert f"incident {incident['id']}" in reminder


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x", "owner_id": 999999, "due_at": "2026-04-01T09:00:00+00:00"}, "owner_id"),
        ({"title": "x", "owner_id": "me", "due_at": "2026-04-01T09:00:00+00:00"}, "owner_id"),
        ({"title": "x", "due_at": "2026-04-01T09:00:00+00:00"}, "owner_id"),
        ({"title": " ", "owner_id": 1, "due_at": "2026-04-01T09:00:00+00:00"}, "title"),
        ({"title": "x", "owner_id": 1, "due_at": "2026-03-01T09:00:00+00:00"}, "due_at"),
    ],
)
def test_bad_actions_are_422(as_user, org, clock, body, field):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    as_user(org.manager).post(f"{url}/acknowledge", json={})
    if body.get("owner_id") == 1:
        body["owner_id"] = org.manager.id
    response = as_user(org.manager).post(f"{url}/actions", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_an_action_owner_outside_the_team_is_refused(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    as_user(org.manager).post(f"{url}/acknowledge", json={})
    for owner in (org.other_manager, org.colleague):
        response = as_user(org.manager).post(
            f"{url}/actions", json={"title": "x", "owner_id": owner.id, "due_at": "2026-04-01T09:00:00+00:00"}
        )
        assert response.status_code == 422


def test_cancelling_an_action_needs_a_note(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"
    as_user(org.manager).post(f"{url}/acknowledge", json={})
    added = (
        as_user(org.manager)
        .post(
            f"{url}/actions",
            json={"title": "x", "owner_id": org.lead.id, "due_at": "2026-04-01T09:00:00+00:00"},
        )
        .get_json()
    )
    action_url = f"{url}/actions/{added['actions'][0]['id']}"
    assert as_user(org.manager).patch(action_url, json={"status": "cancelled"}).status_code == 422
    cancelled = as_user(org.manager).patch(action_url, json={"status": "cancelled", "note": "Duplicate."})
    assert cancelled.get_json()["actions"][0]["status"] == "cancelled"
    assert as_user(org.manager).patch(action_url, json={"status": "done"}).status_code == 409


def test_a_draft_not_confirmed_in_3_days_reminds_the_worker(app, as_user, org, clock, sweep):
    practitioner = as_user(org.practitioner)
    current = practitioner.post(
        "/api/v1/visits", json={"address": "1 Oak Road LS6 1AA", "duration_minutes": 30}
    )
    alarm = practitioner.post("/api/v1/alarms", json={"kind": "panic", "visit_id": current.get_json()["id"]})
    as_user(org.manager).post(
        f"/api/v1/alarms/{alarm.get_json()['id']}/resolve", json={"outcome": "incident"}
    )
    clock.advance(days=3, minutes=1)
    sweep()
    assert [t for t in texts(app, to=org.practitioner) if "draft waiting for you to confirm" in t]
