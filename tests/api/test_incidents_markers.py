"""Household markers: proposed from an incident, approved by a second person, enforced at check-in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.incidents.helpers import ADDRESS, SAME_HOME_TYPED_FAST, report, texts


def propose(api, incident_id, **overrides):
    body = {"reason": "Father threatened staff with a knife on 2 March 2026.", "controls": ["joint_visit"]}
    body.update(overrides)
    return api.post(f"/api/v1/incidents/{incident_id}/markers", json=body)


def check_in(api, address=SAME_HOME_TYPED_FAST, **extra):
    return api.post("/api/v1/visits", json={"address": address, "duration_minutes": 45, **extra})


@pytest.fixture
def incident(as_user, org, clock):
    return report(as_user(org.practitioner), clock, category="threat_with_weapon")


def test_a_proposed_marker_does_nothing_until_a_second_person_approves_it(as_user, org, clock, incident):
    proposed = propose(as_user(org.manager), incident["id"])
    assert proposed.status_code == 201, proposed.get_json()
    marker = proposed.get_json()
    assert marker["status"] == "proposed"
    assert marker["household_id"] == incident["household_id"]
    assert marker["evidence_incident_ids"] == [incident["id"]]
    assert marker["address"] == ADDRESS

    lone = check_in(as_user(org.colleague))
    assert lone.status_code == 201
    assert lone.get_json()["warnings"] == []

    own = as_user(org.manager).post(f"/api/v1/markers/{marker['id']}/approve", json={})
    assert own.status_code == 403
    assert "second person" in own.get_json()["message"]
    assert as_user(org.manager).get(f"/api/v1/markers/{marker['id']}").get_json()["status"] == "proposed"


def test_approved_by_a_second_manager_the_next_check_in_warns_and_joint_visit_needs_a_companion(
    as_user, org, clock, incident
):
    marker = propose(as_user(org.manager), incident["id"]).get_json()
    approved = as_user(org.on_call).post(f"/api/v1/markers/{marker['id']}/approve", json={"note": "Agreed."})
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "active"

    refused = check_in(as_user(org.colleague))
    assert refused.status_code == 409
    body = refused.get_json()
    assert "Joint visits only" in body["message"]
    assert "knife" in body["message"]
    assert "address" in body["errors"]

    joint = check_in(as_user(org.colleague), companion_id=org.practitioner.id)
    assert joint.status_code == 201
    [warning] = joint.get_json()["warnings"]
    assert warning == {
        "marker_id": marker["id"],
        "controls": ["joint_visit"],
        "reason": "Father threatened staff with a knife on 2 March 2026.",
        "review_at": marker["review_at"],
    }


def test_office_only_refuses_the_check_in_even_with_a_companion(as_user, org, clock, incident):
    marker = propose(
        as_user(org.manager), incident["id"], controls=["office_only", "written_agreement"]
    ).get_json()
    assert as_user(org.lead).post(f"/api/v1/markers/{marker['id']}/approve", json={}).status_code == 200

    refused = check_in(as_user(org.colleague), companion_id=org.practitioner.id)
    assert refused.status_code == 409
    assert "Office-only" in refused.get_json()["message"]
    # Another team's practitioner is refused too: the marker is on the household, not the team.
    assert check_in(as_user(org.other_practitioner), address="12 High St, Leeds, LS1 4AP").status_code == 409
    assert check_in(as_user(org.colleague), address="14 High Street, Leeds LS1 4AP").status_code == 201


def test_written_agreement_warns_without_refusing(as_user, org, clock, incident):
    marker = propose(as_user(org.manager), incident["id"], controls=["written_agreement"]).get_json()
    as_user(org.lead).post(f"/api/v1/markers/{marker['id']}/approve", json={})
    visit = check_in(as_user(org.colleague))
    assert visit.status_code == 201
    assert visit.get_json()["warnings"][0]["controls"] == ["written_agreement"]
    # The warning is kept on the visit as shown.
    again = as_user(org.colleague).get(f"/api/v1/visits/{visit.get_json()['id']}").get_json()
    assert again["warnings"] == visit.get_json()["warnings"]


def test_a_marker_expires_at_its_review_date_unless_renewed(app, as_user, org, clock, sweep, incident):
    review_at = clock.now() + timedelta(days=40)
    marker = propose(as_user(org.manager), incident["id"], review_at=review_at.isoformat()).get_json()
    as_user(org.lead).post(f"/api/v1/markers/{marker['id']}/approve", json={})

    due = as_user(org.manager).get("/api/v1/markers?due_for_review=true").get_json()
    assert due["total"] == 0
    clock.advance(days=11)  # within 30 days of review
    sweep()
    due = as_user(org.manager).get("/api/v1/markers?due_for_review=true").get_json()
    assert [m["id"] for m in due["items"]] == [marker["id"]]
    [notice] = [t for t in texts(app, to=org.manager) if "due for review" in t]
    assert "LS1 4AP" in notice
    sweep()  # told once
    assert len([t for t in texts(app, to=org.manager) if "due for review" in t]) == 1

    clock.advance(days=30)
    sweep()
    expired = as_user(org.manager).get(f"/api/v1/markers/{marker['id']}").get_json()
    assert expired["status"] == "expired"
    visit = check_in(as_user(org.colleague))
    assert visit.status_code == 201
    assert visit.get_json()["warnings"] == []


def test_a_marker_past_review_stops_applying_even_before_the_sweep(as_user, org, clock, incident):
    review_at = clock.now() + timedelta(days=2)
    marker = propose(as_user(org.manager), incident["id"], review_at=review_at.isoformat()).get_json()
    as_user(org.lead).post(f"/api/v1/markers/{marker['id']}/approve", json={})
    clock.advance(days=3)
    assert check_in(as_user(org.colleague)).status_code == 201


def test_renewal_needs_a_new_incident_at_the_household(as_user, org, clock, incident):
    review_at = clock.now() + timedelta(days=20)
    marker = propose(as_user(org.manager), incident["id"], review_at=review_at.isoformat()).get_json()
    as_user(org.lead).post(f"/api/v1/markers/{marker['id']}/approve", json={})
    url = f"/api/v1/markers/{marker['id']}/renew"

    same = as_user(org.manager).post(url, json={"incident_id": incident["id"]})
    assert same.status_code == 422
    assert "incident_id" in same.get_json()["errors"]
    elsewhere = report(as_user(org.practitioner), clock, address="3 Low Lane, Leeds LS2 7AB")
    assert as_user(org.manager).post(url, json={"incident_id": elsewhere["id"]}).status_code == 422

    clock.advance(days=10)
    second = report(as_user(org.colleague), clock, address=SAME_HOME_TYPED_FAST, category="threat")
    too_far = as_user(org.manager).post(
        url, json={"incident_id": second["id"], "review_at": (clock.now() + timedelta(days=400)).isoformat()}
    )
    assert too_far.status_code == 422
    assert "review_at" in too_far.get_json()["errors"]
    renewed = as_user(org.manager).post(url, json={"incident_id": second["id"]}).get_json()
    assert renewed["status"] == "active"
    assert renewed["evidence_incident_ids"] == [incident["id"], second["id"]]
    assert renewed["review_at"] > marker["review_at"]
    assert renewed["renewed_at"] is not None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"controls": ["locked_door"]}, "controls"),
        ({"review_at": "2028-01-01T00:00:00+00:00"}, "review_at"),  # more than 12 months
        ({"review_at": "2026-03-01T00:00:00+00:00"}, "review_at"),  # the past
        ({"evidence_incident_ids": [999999]}, "evidence_incident_ids"),
    ],
)
def test_bad_proposals_are_422_and_change_nothing(as_user, org, clock, incident, override, field):
    response = propose(as_user(org.manager), incident["id"], **override)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert as_user(org.lead).get("/api/v1/markers").get_json()["total"] == 0


def test_who_may_propose_and_see_markers(as_user, org, clock, incident):
    assert propose(as_user(org.practitioner), incident["id"]).status_code == 403
    assert propose(as_user(org.other_manager), incident["id"]).status_code == 404
    marker = propose(as_user(org.manager), incident["id"]).get_json()
    assert as_user(org.other_manager).get(f"/api/v1/markers/{marker['id']}").status_code == 404
    assert (
        as_user(org.other_manager).post(f"/api/v1/markers/{marker['id']}/approve", json={}).status_code == 404
    )
    assert as_user(org.practitioner).get("/api/v1/markers").status_code == 403
    assert as_user(org.lead).get("/api/v1/markers").get_json()["total"] == 1


def test_an_incident_without_an_address_cannot_carry_a_marker(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock, address=...)
    response = propose(as_user(org.manager), incident["id"])
    assert response.status_code == 409
    assert "address" in response.get_json()["errors"]


def test_triage_can_propose_the_marker(as_user, org, clock, incident):
    url = f"/api/v1/incidents/{incident['id']}"
    as_user(org.manager).post(f"{url}/acknowledge", json={})
    triaged = (
        as_user(org.manager)
        .post(
            f"{url}/triage",
            json={
                "harm": "psychological",
                "consequence": 4,
                "likelihood": 3,
                "investigation_level": "local",
                "marker": {"reason": "Knife shown to staff on 2 March 2026.", "controls": ["office_only"]},
            },
        )
        .get_json()
    )
    [marker_id] = triaged["marker_ids"]
    assert as_user(org.manager).get(f"/api/v1/markers/{marker_id}").get_json()["status"] == "proposed"


def test_a_bad_marker_in_triage_rolls_the_whole_triage_back(as_user, org, clock):
    incident = report(as_user(org.practitioner), clock, address=...)
    url = f"/api/v1/incidents/{incident['id']}"
    as_user(org.manager).post(f"{url}/acknowledge", json={})
    response = as_user(org.manager).post(
        f"{url}/triage",
        json={
            "harm": "none",
            "consequence": 1,
            "likelihood": 1,
            "investigation_level": "none",
            "marker": {"reason": "Dog bit a visitor.", "controls": []},
        },
    )
    assert response.status_code == 409
    assert as_user(org.manager).get(url).get_json()["status"] == "acknowledged"


def test_reject_and_withdraw_keep_the_record(as_user, org, clock, incident):
    first = propose(as_user(org.manager), incident["id"]).get_json()
    assert as_user(org.lead).post(f"/api/v1/markers/{first['id']}/reject", json={}).status_code == 422
    rejected = as_user(org.lead).post(f"/api/v1/markers/{first['id']}/reject", json={"note": "Not factual."})
    assert rejected.get_json()["status"] == "rejected"
    assert as_user(org.on_call).post(f"/api/v1/markers/{first['id']}/approve", json={}).status_code == 409

    second = propose(as_user(org.manager), incident["id"], controls=["office_only"]).get_json()
    as_user(org.lead).post(f"/api/v1/markers/{second['id']}/approve", json={})
    withdrawn = as_user(org.manager).post(
        f"/api/v1/markers/{second['id']}/withdraw", json={"reason": "The family moved away."}
    )
    assert withdrawn.get_json()["status"] == "withdrawn"
    assert check_in(as_user(org.colleague)).status_code == 201
    assert as_user(org.lead).get("/api/v1/markers").get_json()["total"] == 2


def test_an_incident_at_a_marked_household_is_flagged(as_user, org, clock, incident):
    marker = propose(as_user(org.manager), incident["id"], controls=["written_agreement"]).get_json()
    as_user(org.lead).post(f"/api/v1/markers/{marker['id']}/approve", json={})
    clock.advance(minutes=30)
    later = report(as_user(org.colleague), clock, address=SAME_HOME_TYPED_FAST)
    assert later["at_marked_household"] is True
    assert incident["at_marked_household"] is False


def test_household_view_counts_visits_and_incidents(as_user, org, clock, incident):
    visit = check_in(as_user(org.colleague))
    assert visit.status_code == 201
    household = as_user(org.manager).get(f"/api/v1/households/{incident['household_id']}").get_json()
    assert household["visits"] == 1
    assert household["incidents"] == 1
    assert household["postcode"] == "LS1 4AP"
    assert (
        as_user(org.other_manager)
        .get(f"/api/v1/households/{incident['household_id']}")
        .get_json()["incidents"]
        == 0
    )
