"""What incident texts say: where it happened (or that nobody said), never what happened.

The contract: every escalation text names the address or says there is none. SMS is not a secure
channel, so no text carries the description or the injury.
"""

from __future__ import annotations

import pytest

from safetycheck.escalation.enums import MessagePurpose
from tests.incidents.helpers import ADDRESS, advance_to, report, texts

DESCRIPTION = "Punched by the uncle in the kitchen"
INJURY = "Fractured cheekbone"
VISIT_ADDRESS = "7 Mill Lane, Leeds LS6 3HJ"


def chase_to_manager(app, org, clock, sweep) -> str:
    clock.advance(minutes=5)  # the [incident] ladder chases after five minutes
    sweep()
    [chase] = texts(app, to=org.manager, purpose=MessagePurpose.ESCALATION)
    return chase


def test_the_chase_of_a_serious_incident_names_its_address_not_its_description(
    app, as_user, org, clock, sweep, console_sms
):
    report(
        as_user(org.practitioner),
        clock,
        category="physical_assault",
        description=DESCRIPTION,
        harmed=True,
        injury=INJURY,
    )

    chase = chase_to_manager(app, org, clock, sweep)

    assert chase.startswith(f"SAFETYCHECK INCIDENT: a serious incident at {ADDRESS} reported by Priya")
    assert "has not been acknowledged" in chase
    assert DESCRIPTION not in chase
    assert INJURY not in chase


def test_the_chase_names_the_visits_address_when_the_report_names_none(
    app, as_user, org, clock, sweep, console_sms
):
    worker = as_user(org.practitioner)
    visit = worker.post("/api/v1/visits", json={"address": VISIT_ADDRESS, "duration_minutes": 60}).get_json()
    incident = report(worker, clock, category="threat_with_weapon", address=..., visit_id=visit["id"])
    cleared = worker.patch(f"/api/v1/incidents/{incident['id']}", json={"address": None})
    assert cleared.get_json()["address"] is None

    assert f"a serious incident at {VISIT_ADDRESS} reported by" in chase_to_manager(app, org, clock, sweep)


def test_the_chase_says_when_no_address_was_given(app, as_user, org, clock, sweep, console_sms):
    report(as_user(org.practitioner), clock, category="sexual_assault", address=...)

    chase = chase_to_manager(app, org, clock, sweep)

    assert "a serious incident (address not given) reported by" in chase


@pytest.mark.parametrize("serious", [True, False], ids=["serious", "other"])
def test_every_incident_text_keeps_the_case_details_off_sms(
    app, as_user, org, clock, sweep, console_sms, serious
):
    worker, boss = as_user(org.practitioner), as_user(org.manager)
    category = "physical_assault" if serious else "threat"
    incident = report(worker, clock, category=category, description=DESCRIPTION, harmed=True, injury=INJURY)
    url = f"/api/v1/incidents/{incident['id']}"
    if not serious:  # corrected to a serious category: on-call and the chase hear of it
        assert worker.patch(url, json={"category": "physical_assault"}).status_code == 200
    clock.advance(minutes=5)
    sweep()
    advance_to(boss, incident["id"], "triaged", clock)
    action = {
        "title": "Review the risk assessment",
        "owner_id": org.manager.id,
        "due_at": "2026-03-03T09:00:00Z",
    }
    assert boss.post(f"{url}/actions", json=action).status_code == 201
    assert (
        boss.post(f"{url}/request-information", json={"question": "Who else was there?"}).status_code == 200
    )
    assert boss.post(f"{url}/feedback", json={"message": "Joint visits only from now on."}).status_code == 200
    for days in (1, 4, 15):
        clock.advance(days=days)
        sweep()

    sent = texts(app, purpose=None)
    incident_texts = [t for t in sent if f"incident {incident['id']}" in t or "INCIDENT" in t]
    assert len(incident_texts) >= 6  # reported, chase, question, feedback, reminders
    for body in sent:
        assert DESCRIPTION not in body
        assert INJURY not in body
    alerts = [t for t in sent if "INCIDENT" in t]  # the report's texts, the correction's and the chase
    assert len(alerts) >= 3
    assert all(ADDRESS in t for t in alerts)
