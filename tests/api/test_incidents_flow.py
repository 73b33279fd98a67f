"""The post-incident procedure driven through the HTTP API, from the report to closing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safetycheck.accounts.enums import Role
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from tests import factories
from tests.incidents.helpers import ADDRESS, events, incident_count, outbox_count, report, report_body, texts


def test_a_report_texts_the_managers_at_once_and_reaches_them_within_one_sweep(
    app, as_user, org, clock, sweep, console_sms
):
    incident = report(as_user(org.practitioner), clock)

    assert incident["status"] == "reported"
    assert incident["reporter_id"] == org.practitioner.id
    assert incident["team_id"] == org.team.id
    assert incident["household_id"] is not None
    # Both managers of the team (the on-call manager is one of them), never the reporter.
    for manager in (org.manager, org.on_call):
        [body] = texts(app, to=manager)
        assert "Priya Practitioner reported verbal abuse" in body
        assert "12 High Street" in body
        assert f"acknowledge incident {incident['id']}" in body
        assert "sworn" not in body  # no case details by SMS
        assert len(body) <= 300
    assert texts(app, to=org.practitioner) == []
    assert texts(app, to=org.other_manager) == []

    sweep()
    sent_to = {message.to for message in console_sms.sent}
    assert {org.manager.phone, org.on_call.phone} <= sent_to


def test_the_lead_sees_it_in_the_register_and_other_teams_get_404(app, as_user, org, clock):
    incident = report(as_user(org.practitioner), clock)
    url = f"/api/v1/incidents/{incident['id']}"

    listed = as_user(org.lead).get("/api/v1/incidents").get_json()
    assert [item["id"] for item in listed["items"]] == [incident["id"]]
    for user in (org.lead, org.admin, org.manager, org.practitioner):
        assert as_user(user).get(url).status_code == 200
    for user in (org.other_practitioner, org.other_manager, org.colleague):
        response = as_user(user).get(url)
        assert response.status_code == 404
        assert response.get_json()["code"] == 404
        assert as_user(user).get("/api/v1/incidents").get_json()["total"] == 0
    assert as_user(org.other_manager).post(f"{url}/acknowledge", json={}).status_code == 404
    assert as_user(org.other_manager).patch(url, json={"injury": "none"}).status_code == 404


def test_without_a_token_401(client, org):
    assert client.get("/api/v1/incidents").status_code == 401
    assert client.post("/api/v1/incidents", json={}).status_code == 401


def test_the_whole_procedure_from_report_to_close(app, as_user, org, clock):
    practitioner, manager, lead = as_user(org.practitioner), as_user(org.manager), as_user(org.lead)
    incident_id = report(practitioner, clock)["id"]
    url = f"/api/v1/incidents/{incident_id}"

    clock.advance(minutes=5)
    acked = manager.post(f"{url}/acknowledge", json={"note": "Phoned Priya, she is back at the office."})
    assert acked.status_code == 200
    assert acked.get_json()["status"] == "acknowledged"
    assert acked.get_json()["acknowledged_by"] == org.manager.id

    triaged = manager.post(
        f"{url}/triage",
        json={"harm": "psychological", "consequence": 3, "likelihood": 4, "investigation_level": "local"},
    ).get_json()
    assert (triaged["status"], triaged["risk_score"], triaged["risk_band"]) == ("triaged", 12, "high")
    assert triaged["riddor"]["classification"] == "not_reportable"  # verbal abuse: screened by default

    assert manager.post(f"{url}/transition", json={"to": "under_investigation"}).status_code == 200
    action = manager.post(
        f"{url}/actions",
        json={
            "title": "Agree joint visits with the family",
            "owner_id": org.manager.id,
            "due_at": (clock.now() + timedelta(days=7)).isoformat(),
        },
    )
    assert action.status_code == 201
    action_id = action.get_json()["actions"][0]["id"]
    assert (
        manager.post(f"{url}/transition", json={"to": "actions_open"}).get_json()["status"] == "actions_open"
    )
    blocked = manager.post(f"{url}/transition", json={"to": "hs_review"})
    assert blocked.status_code == 409
    assert "actions" in blocked.get_json()["errors"]
    done = manager.patch(f"{url}/actions/{action_id}", json={"status": "done", "note": "Agreed on 3 March."})
    assert done.get_json()["actions"][0]["status"] == "done"
    assert manager.post(f"{url}/transition", json={"to": "hs_review"}).get_json()["status"] == "hs_review"

    assert manager.post(f"{url}/transition", json={"to": "closed"}).status_code == 403  # a lead closes
    no_feedback = lead.post(f"{url}/transition", json={"to": "closed"})
    assert no_feedback.status_code == 409
    assert "feedback" in no_feedback.get_json()["errors"]
    assert (
        lead.post(f"{url}/feedback", json={"message": "Joint visits agreed; thank you."}).status_code == 200
    )
    assert texts(app, to=org.practitioner) == [
        f"SafetyCheck: there is feedback on your incident report {incident_id}. "
        "Read it in SafetyCheck (app or web)."
    ]
    closed = lead.post(f"{url}/transition", json={"to": "closed", "note": "Reviewed."}).get_json()
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    assert closed["step_due_at"] is None

    # The reporter sees the feedback and the whole story; nothing was deleted.
    seen = practitioner.get(url).get_json()
    assert seen["feedback"] == "Joint visits agreed; thank you."
    assert events(seen) == [
        "reported",
        "status_changed",  # acknowledged
        "riddor_screened",
        "status_changed",  # triaged
        "status_changed",  # under_investigation
        "action_added",
        "status_changed",  # actions_open
        "action_updated",
        "status_changed",  # hs_review
        "feedback_given",
        "status_changed",  # closed
    ]
    assert [e["details"].get("to") for e in seen["timeline"] if e["event"] == "status_changed"] == [
        "acknowledged",
        "triaged",
        "under_investigation",
        "actions_open",
        "hs_review",
        "closed",
    ]

    # Reopening needs a reason, and closing again needs fresh feedback.
    assert lead.post(f"{url}/reopen", json={}).status_code == 422
    reopened = lead.post(
        f"{url}/reopen", json={"reason": "The family complained of a new threat."}
    ).get_json()
    assert (reopened["status"], reopened["reopened_count"]) == ("under_investigation", 1)
    assert manager.post(f"{url}/transition", json={"to": "hs_review"}).status_code == 200
    assert lead.post(f"{url}/transition", json={"to": "closed"}).status_code == 409


@pytest.mark.parametrize(
    ("step", "body"),
    [
        ("triage", {"harm": "none", "consequence": 1, "likelihood": 1, "investigation_level": "none"}),
        ("transition", {"to": "under_investigation"}),
        ("transition", {"to": "closed"}),
        ("provide-information", {"answer": "nothing was asked"}),
        ("reopen", {"reason": "it is not closed"}),
    ],
)
def test_steps_out_of_order_are_409_and_change_nothing(as_user, org, clock, step, body):
    incident = report(as_user(org.practitioner), clock)
    api = as_user(
        org.practitioner if step == "provide-information" else org.lead if step == "reopen" else org.manager
    )
    if step == "transition" and body["to"] == "closed":
        api = as_user(org.lead)
    response = api.post(f"/api/v1/incidents/{incident['id']}/{step}", json=body)
    assert response.status_code == 409, response.get_json()
    after = as_user(org.manager).get(f"/api/v1/incidents/{incident['id']}").get_json()
    assert after["status"] == "reported"
    assert after["timeline"] == incident["timeline"]


def test_acknowledging_twice_is_409(as_user, org, clock):
    incident_id = report(as_user(org.practitioner), clock)["id"]
    assert (
        as_user(org.manager).post(f"/api/v1/incidents/{incident_id}/acknowledge", json={}).status_code == 200
    )
    second = as_user(org.on_call).post(f"/api/v1/incidents/{incident_id}/acknowledge", json={})
    assert second.status_code == 409
    assert second.get_json()["status"] == "Conflict"


def test_roles_the_reporter_cannot_acknowledge_and_a_lead_cannot_triage(as_user, org, clock):
    incident_id = report(as_user(org.practitioner), clock)["id"]
    url = f"/api/v1/incidents/{incident_id}"
    assert as_user(org.practitioner).post(f"{url}/acknowledge", json={}).status_code == 403
    assert as_user(org.lead).post(f"{url}/acknowledge", json={}).status_code == 403
    assert as_user(org.admin).post(f"{url}/acknowledge", json={}).status_code == 200
    triage = {"harm": "none", "consequence": 1, "likelihood": 1, "investigation_level": "none"}
    assert as_user(org.lead).post(f"{url}/triage", json=triage).status_code == 403


def test_triage_with_level_none_goes_straight_to_review(as_user, org, clock):
    incident_id = report(as_user(org.practitioner), clock)["id"]
    url = f"/api/v1/incidents/{incident_id}"
    manager = as_user(org.manager)
    manager.post(f"{url}/acknowledge", json={})
    manager.post(
        f"{url}/triage",
        json={"harm": "none", "consequence": 1, "likelihood": 2, "investigation_level": "none"},
    )
    moved = manager.post(f"{url}/transition", json={"to": "hs_review"}).get_json()
    assert moved["status"] == "hs_review"
    assert moved["allowed_transitions"] == ["under_investigation", "closed"]


def test_a_local_investigation_cannot_skip_to_review(as_user, org, clock):
    incident_id = report(as_user(org.practitioner), clock)["id"]
    url = f"/api/v1/incidents/{incident_id}"
    manager = as_user(org.manager)
    manager.post(f"{url}/acknowledge", json={})
    manager.post(
        f"{url}/triage",
        json={"harm": "none", "consequence": 1, "likelihood": 2, "investigation_level": "local"},
    )
    assert manager.post(f"{url}/transition", json={"to": "hs_review"}).status_code == 409


def test_information_required_goes_to_the_reporter_and_back(app, as_user, org, clock):
    incident_id = report(as_user(org.practitioner), clock)["id"]
    url = f"/api/v1/incidents/{incident_id}"
    manager = as_user(org.manager)
    manager.post(f"{url}/acknowledge", json={})
    asked = manager.post(f"{url}/request-information", json={"question": "Was anyone else in the room?"})
    assert asked.get_json()["status"] == "information_required"
    assert any("question about your incident report" in t for t in texts(app, to=org.practitioner))
    assert manager.post(f"{url}/provide-information", json={"answer": "me"}).status_code == 403
    answered = as_user(org.practitioner).post(
        f"{url}/provide-information", json={"answer": "Only the father."}
    )
    assert answered.get_json()["status"] == "acknowledged"
    assert answered.get_json()["timeline"][-1]["details"]["answer"] == "Only the father."


def test_serious_incident_texts_on_call_and_raises_an_alarm_until_acknowledged(
    app, as_user, org, clock, sweep
):
    with app.app_context():
        duty = factories.make_user(now=clock.now(), role=Role.MANAGER, team=org.other_team, on_call=True)
        factories.loaded(duty)
    incident = report(as_user(org.practitioner), clock, category="physical_assault", harmed=True)

    assert any("SERIOUS INCIDENT" in body and "a physical assault" in body for body in texts(app, to=duty))
    with app.app_context():
        alarm = db.session.scalar(db.select(Alarm).where(Alarm.incident_id == incident["id"]))
        assert (alarm.kind, alarm.status) == (AlarmKind.INCIDENT, AlarmStatus.OPEN)
        alarm_id = alarm.id

    clock.advance(minutes=6)  # nobody acknowledged within the policy's few minutes
    sweep()
    chased = texts(app, to=org.manager, purpose=None)
    assert any("SAFETYCHECK INCIDENT" in body and "Reply ACK" in body for body in chased)

    as_user(org.manager).post(f"/api/v1/incidents/{incident['id']}/acknowledge", json={})
    with app.app_context():
        alarm = db.session.get(Alarm, alarm_id)
        assert alarm.status == AlarmStatus.ACKNOWLEDGED
        assert alarm.acknowledged_by == org.manager.id


def test_a_text_ack_of_the_incident_alarm_acknowledges_the_incident_at_once(app, as_user, org, clock):
    from safetycheck.escalation import alarms as alarm_service

    incident_id = report(as_user(org.practitioner), clock, category="threat_with_weapon")["id"]
    with app.app_context():
        alarm = db.session.scalar(db.select(Alarm).where(Alarm.incident_id == incident_id))
        alarm_service.acknowledge(
            alarm, actor=db.session.get(type(org.on_call), org.on_call.id), now=clock.now(), via="sms"
        )
        db.session.commit()
    detail = as_user(org.manager).get(f"/api/v1/incidents/{incident_id}").get_json()
    assert detail["status"] == "acknowledged"  # no sweep needed
    assert detail["acknowledged_by"] == org.on_call.id
    assert detail["timeline"][-1]["details"]["via"] == "sms"


def test_a_non_serious_report_raises_no_alarm_and_texts_no_one_outside_the_team(app, as_user, org, clock):
    with app.app_context():
        duty = factories.make_user(now=clock.now(), role=Role.MANAGER, team=org.other_team, on_call=True)
        factories.loaded(duty)
    incident_id = report(as_user(org.practitioner), clock)["id"]
    with app.app_context():
        assert db.session.scalar(db.select(Alarm).where(Alarm.incident_id == incident_id)) is None
    assert texts(app, to=duty) == []


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"category": "fight"}, "category"),
        ({"category": ...}, "category"),
        ({"description": "   "}, "description"),
        ({"description": ...}, "description"),
        ({"occurred_at": "2026-03-02T09:00:00"}, "occurred_at"),  # no offset
        ({"occurred_at": "2026-03-02T09:05:00+00:00"}, "occurred_at"),  # the future
        ({"occurred_at": ...}, "occurred_at"),
        ({"near_miss": "yes"}, "near_miss"),
        ({"near_miss": 1}, "near_miss"),
        ({"near_miss": ...}, "near_miss"),
        ({"near_miss": True, "harmed": True}, "near_miss"),
        ({"harmed": "false"}, "harmed"),
        ({"visit_id": 999999}, "visit_id"),
        ({"visit_id": "3"}, "visit_id"),
        ({"alarm_id": 999999}, "alarm_id"),
        ({"address": "x" * 501}, "address"),
        ({"mood": "bad"}, "mood"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_changes_nothing(app, as_user, org, clock, override, field):
    before = (incident_count(app), outbox_count(app))
    response = as_user(org.practitioner).post("/api/v1/incidents", json=report_body(clock, **override))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == 422
    assert field in body["errors"], body
    assert (incident_count(app), outbox_count(app)) == before


def test_another_practitioners_visit_is_not_in_reach(as_user, org, clock):
    other = as_user(org.other_practitioner)
    visit = other.post(
        "/api/v1/visits", json={"address": "1 Elm Road, Leeds LS6 2AB", "duration_minutes": 30}
    )
    assert visit.status_code == 201
    response = as_user(org.practitioner).post(
        "/api/v1/incidents", json=report_body(clock, visit_id=visit.get_json()["id"])
    )
    assert response.status_code == 422
    assert "visit_id" in response.get_json()["errors"]


def test_the_contracts_four_field_report_still_works(as_user, org, clock):
    body = report_body(clock, harmed=..., address=...)
    response = as_user(org.practitioner).post("/api/v1/incidents", json=body)
    assert response.status_code == 201
    assert response.get_json()["harmed"] is None


def test_a_report_from_a_visit_takes_its_address_and_household(as_user, org, clock):
    practitioner = as_user(org.practitioner)
    visit = practitioner.post("/api/v1/visits", json={"address": ADDRESS, "duration_minutes": 30}).get_json()
    incident = report(practitioner, clock, address=..., visit_id=visit["id"])
    assert incident["visit_id"] == visit["id"]
    assert incident["address"] == ADDRESS
    again = report(practitioner, clock, address="12 high st leeds ls1 4ap")
    assert again["household_id"] == incident["household_id"]


def test_the_chase_of_an_unacknowledged_serious_incident_waits_for_its_ladder(
    app, as_user, org, clock, sweep
):
    # The [incident] ladder's first step is 5 minutes after the report: the managers were texted
    # at once by the report itself, and get a few minutes to acknowledge before the chase.
    report(as_user(org.practitioner), clock, category="physical_assault")
    sweep()
    clock.advance(minutes=4, seconds=59)
    sweep()
    assert texts(app, purpose=MessagePurpose.ESCALATION) == []
    clock.advance(seconds=1)
    sweep()
    chase = texts(app, to=org.manager, purpose=MessagePurpose.ESCALATION)
    assert len(chase) == 1
    assert "has not been acknowledged" in chase[0]


def test_a_report_corrected_to_a_serious_category_is_escalated_like_one(app, as_user, org, clock, sweep):
    with app.app_context():
        duty = factories.make_user(now=clock.now(), role=Role.MANAGER, team=org.other_team, on_call=True)
        factories.loaded(duty)
    reporter = as_user(org.practitioner)
    incident_id = report(reporter, clock, category="threat")["id"]
    assert texts(app, to=duty) == []
    with app.app_context():
        assert db.session.scalar(db.select(Alarm).where(Alarm.incident_id == incident_id)) is None

    corrected = reporter.patch(f"/api/v1/incidents/{incident_id}", json={"category": "physical_assault"})
    assert corrected.status_code == 200, corrected.get_json()
    [to_duty] = texts(app, to=duty)
    assert "SERIOUS INCIDENT" in to_duty
    with app.app_context():
        alarm = db.session.scalar(db.select(Alarm).where(Alarm.incident_id == incident_id))
        assert (alarm.kind, alarm.status) == (AlarmKind.INCIDENT, AlarmStatus.OPEN)
    clock.advance(minutes=5)
    sweep()
    assert any(
        "has not been acknowledged" in t
        for t in texts(app, to=org.manager, purpose=MessagePurpose.ESCALATION)
    )
