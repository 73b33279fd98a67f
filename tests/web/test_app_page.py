"""/app with the Flask test client: check in (with the household's warnings first), extend,
check out (the duress PIN answers exactly the same), panic, reports, and the queue's JSON."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents.models import Incident
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit
from tests.assertions import count, session
from tests.web.app_markers import MARKED, REASON, mark_household

PIN = "9911"  # tests.factories.make_org gives the practitioner this duress PIN


def visits(app: Any, **where: Any) -> list[Visit]:
    with session(app) as s:
        rows = list(s.scalars(sa.select(Visit).filter_by(**where).order_by(Visit.id)))
        s.expunge_all()
        return rows


def checked_in(worker: Any, address: str = "1 Park Road, Leeds", **extra: Any) -> Any:
    response = worker.post("/app/check-in", {"address": address, "minutes": "30", **extra})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def test_only_practitioners_open_the_phone_page(web, web_as, org) -> None:
    assert web.get("/app").location.startswith("/login?next=/app")
    assert web.get("/app/status").status_code == 401
    for who in ("manager", "lead", "admin"):
        assert web_as(getattr(org, who)).get("/app").status_code == 403
    page = web_as(org.practitioner).get("/app")
    assert page.status_code == 200
    html = text(page)
    for label in ("Address", "Minutes", "Check in", "Panic"):
        assert label in html
    assert 'rel="manifest"' in html


def test_check_in_then_extend_then_check_out(app, web_as, org, clock) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker, case_ref="C-101")
    [visit] = visits(app)
    assert (visit.status, visit.case_ref, visit.address) == (
        VisitStatus.ACTIVE,
        "C-101",
        "1 Park Road, Leeds",
    )
    page = text(worker.get("/app"))
    assert "Visit at 1 Park Road, Leeds" in page
    assert "Due at <strong data-due-time>09:30</strong>" in page
    assert 'name="pin"' in page  # this practitioner has a duress PIN
    for label in ("Extend", "Check out", "Panic", "+15 min"):
        assert label in page

    assert worker.post("/app/extend", {"quick": "15"}).status_code == 302
    assert worker.post("/app/extend", {"minutes": "20"}).status_code == 302
    assert "due back at 10:05" in text(worker.get("/app"))
    assert visits(app)[0].due_at.strftime("%H:%M") == "10:05"

    assert worker.post("/app/check-out", {}).status_code == 302
    assert visits(app)[0].status == VisitStatus.COMPLETED
    assert "You have checked out" in text(worker.get("/app"))


def test_the_pin_field_shows_only_for_a_practitioner_with_a_duress_pin(web_as, org) -> None:
    worker = web_as(org.colleague)
    checked_in(worker)
    assert 'name="pin"' not in text(worker.get("/app"))


def test_bad_input_names_the_field_and_changes_nothing(app, web_as, org) -> None:
    worker = web_as(org.practitioner)
    for data, field in [
        ({"address": "", "minutes": "30"}, "address"),
        ({"address": "1 Park Road", "minutes": "0"}, "minutes"),
        ({"address": "1 Park Road"}, "minutes"),
        ({"address": "1 Park Road", "minutes": "30", "expected_end": "10:00"}, "minutes"),
        ({"address": "1 Park Road", "expected_end": "25:00"}, "expected_end"),
        ({"address": "1 Park Road", "minutes": "100000"}, "minutes"),
        ({"address": "1 Park Road", "minutes": "30", "companion": "999999"}, "companion"),
    ]:
        response = worker.post("/app/check-in", data)
        assert response.status_code == 422, data
        assert f'href="#{field}"' in text(response), data
    assert visits(app) == []
    checked_in(worker)
    for data in ({"minutes": "abc"}, {}, {"minutes": "100000"}):
        response = worker.post("/app/extend", data)
        assert response.status_code == 422, data
        assert 'href="#minutes"' in text(response)
    assert visits(app)[0].due_at.strftime("%H:%M") == "09:30"


def test_expected_end_is_a_time_today(app, web_as, org) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker, minutes="", expected_end="10:15")
    assert visits(app)[0].due_at.strftime("%H:%M") == "10:15"


def test_a_marked_household_warns_before_the_check_in_is_confirmed(app, web_as, org, clock) -> None:
    with app.app_context():
        mark_household(org, now=clock.now(), controls=[MarkerControl.WRITTEN_AGREEMENT])
    worker = web_as(org.practitioner)
    first = worker.post("/app/check-in", {"address": MARKED, "minutes": "30"})
    assert first.status_code == 200
    assert "Before you go in" in text(first)
    assert REASON in text(first)
    assert visits(app) == []  # nothing yet: the warning comes first
    confirmed = worker.post("/app/check-in", {"address": MARKED, "minutes": "30", "confirmed": "yes"})
    assert confirmed.status_code == 302
    [visit] = visits(app)
    assert visit.warnings
    assert visit.warnings[0]["reason"] == REASON


def test_a_joint_visit_marker_says_to_name_a_companion(app, web_as, org, clock) -> None:
    with app.app_context():
        mark_household(org, now=clock.now(), controls=[MarkerControl.JOINT_VISIT])
    worker = web_as(org.practitioner)
    first = worker.post("/app/check-in", {"address": MARKED, "minutes": "30"})
    assert "You cannot visit here on your own" in text(first)
    assert "office visit" in text(first)
    alone = worker.post("/app/check-in", {"address": MARKED, "minutes": "30", "confirmed": "yes"})
    assert alone.status_code == 409
    assert visits(app) == []
    together = worker.post(
        "/app/check-in",
        {"address": MARKED, "minutes": "30", "confirmed": "yes", "companion": str(org.colleague.id)},
    )
    assert together.status_code == 302
    assert visits(app)[0].companion_id == org.colleague.id


def test_an_office_only_marker_offers_no_check_in(app, web_as, org, clock) -> None:
    with app.app_context():
        mark_household(org, now=clock.now(), controls=[MarkerControl.OFFICE_ONLY])
    worker = web_as(org.practitioner)
    first = text(worker.post("/app/check-in", {"address": MARKED, "minutes": "30"}))
    assert "Do not visit this home" in first
    assert "at the office" in first
    assert ">Check in<" not in re.sub(r"\s+", "", first).replace("Checkin", "Check in")
    assert (
        worker.post("/app/check-in", {"address": MARKED, "minutes": "30", "confirmed": "yes"}).status_code
        == 409
    )
    assert visits(app) == []


def normalised(html: str) -> str:
    html = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "<csrf>", html)
    html = re.sub(r'value="[^"]{40,}"', "<token>", html)
    html = re.sub(r"X-CSRFToken&#34;: &#34;[^&]+&#34;", "<csrf>", html)
    html = re.sub(r'nonce="[^"]+"', "<nonce>", html)
    html = re.sub(r'data-server-now="[^"]+"', "<now>", html)
    return html


def test_a_duress_check_out_answers_exactly_as_a_normal_one(app, web_as, org, clock) -> None:
    worker = web_as(org.practitioner)
    answers = []
    for pin in ("1234", PIN):
        checked_in(worker)
        started = time.perf_counter()
        response = worker.post("/app/check-out", {"pin": pin})
        elapsed = time.perf_counter() - started
        answers.append(
            (response.status_code, response.location, normalised(text(worker.get("/app"))), elapsed)
        )
    (normal, duress) = answers
    assert normal[:2] == duress[:2]
    assert normal[2] == duress[2], "\n".join(
        __import__("difflib").unified_diff(normal[2].splitlines(), duress[2].splitlines(), lineterm="")
    )
    assert min(normal[3], duress[3]) >= 0.25  # both wait out the same floor
    with session(app) as s:
        [alarm] = s.scalars(sa.select(Alarm)).all()
        assert alarm.kind == AlarmKind.DURESS
    assert [v.status for v in visits(app)] == [VisitStatus.COMPLETED, VisitStatus.COMPLETED]


def test_panic_without_the_script_asks_for_a_second_press(app, web_as, org) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    first = worker.post("/app/panic", {})
    assert first.status_code == 200
    assert "Call for help?" in text(first)
    assert count(app, Alarm) == 0
    assert worker.post("/app/panic", {"confirmed": "yes"}).status_code == 302
    with session(app) as s:
        [alarm] = s.scalars(sa.select(Alarm)).all()
        assert (alarm.kind, alarm.visit_id) == (AlarmKind.PANIC, visits(app)[0].id)
    assert "Help is on its way" in text(worker.get("/app"))


def post_json(worker: Any, action: str, body: Any, key: str | None = "k-1", csrf: bool = True) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    if csrf:
        headers["X-CSRFToken"] = worker.token
    return worker.client.post(f"/app/queue/{action}", json=body, headers=headers)


def test_a_queued_check_out_delivered_twice_checks_out_once(app, web_as, org) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    worker.get("/app")
    [visit] = visits(app)
    first = post_json(worker, "checkout", {"visit_id": visit.id})
    again = post_json(worker, "checkout", {"visit_id": visit.id})
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.get_json() == again.get_json() == {"message": "You have checked out. Stay safe."}
    with session(app) as s:
        from safetycheck.timeline.models import TimelineEntry

        outs = s.scalars(sa.select(TimelineEntry).where(TimelineEntry.event == "checked_out")).all()
        assert len(outs) == 1


def test_a_queued_extension_delivered_twice_extends_once(app, web_as, org) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    worker.get("/app")
    [visit] = visits(app)
    for _ in range(2):
        answer = post_json(worker, "extend", {"visit_id": visit.id, "minutes": 30})
        assert answer.status_code == 200, answer.get_json()
    assert visits(app)[0].due_at.strftime("%H:%M") == "10:00"
    other = post_json(worker, "extend", {"visit_id": visit.id, "minutes": 30}, key="k-2")
    assert other.status_code == 200
    assert visits(app)[0].due_at.strftime("%H:%M") == "10:30"


def test_the_queue_refuses_what_it_cannot_read(app, web_as, web, org) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    worker.get("/app")
    [visit] = visits(app)
    assert post_json(worker, "extend", {"visit_id": visit.id, "minutes": 30}, csrf=False).status_code == 400
    assert post_json(worker, "extend", {"visit_id": visit.id, "minutes": 30}, key=None).status_code == 422
    assert (
        post_json(worker, "extend", {"visit_id": visit.id, "minutes": 30}, key="x" * 101).status_code == 422
    )
    for body, field in [
        ({"visit_id": visit.id, "minutes": "30"}, "minutes"),
        ({"visit_id": visit.id, "minutes": 0}, "minutes"),
        ({"visit_id": "x", "minutes": 30}, "visit_id"),
        ({"visit_id": visit.id, "minutes": 10**6}, "minutes"),
    ]:
        answer = post_json(worker, "extend", body, key=f"bad-{field}-{body['minutes']}")
        assert answer.status_code == 422, body
        assert field in answer.get_json()["errors"], answer.get_json()
    assert post_json(worker, "extend", [1, 2]).status_code == 422
    assert post_json(worker, "panic", {"location": {"lat": 91, "lon": 0}}).status_code == 422
    assert (
        post_json(
            worker, "report", {"category": "nope", "description": "x", "near_miss": True, "harmed": False}
        ).status_code
        == 422
    )
    assert visits(app)[0].due_at.strftime("%H:%M") == "09:30"
    assert count(app, Alarm) == 0
    assert web.client.post("/app/queue/panic", json={}).status_code in (400, 401)


def test_a_queued_panic_and_reports(app, web_as, org, clock) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    worker.get("/app")
    location = {"lat": 53.8, "lon": -1.55, "accuracy_m": 20}
    assert post_json(worker, "panic", {"visit_id": 999999, "location": location}, key="p1").status_code == 200
    assert post_json(worker, "panic", {}, key="p1").status_code == 200
    with session(app) as s:
        [alarm] = s.scalars(sa.select(Alarm)).all()
        assert (alarm.kind, alarm.status, alarm.lat) == (AlarmKind.PANIC, AlarmStatus.OPEN, 53.8)
    status = worker.client.get("/app/status").get_json()
    assert status["panic"]["taken_by"] is None
    with app.app_context():
        from safetycheck.escalation import alarms as alarm_service

        alarm_service.acknowledge(
            db.session.get(Alarm, alarm.id), actor=org.manager, now=clock.now(), via="web"
        )
        db.session.commit()
    status = worker.client.get("/app/status").get_json()
    assert status["panic"]["taken_by"] == "Morgan Manager"
    assert "Morgan Manager has taken charge" in text(worker.get("/app"))

    made = (clock.now()).isoformat()
    body = {
        "category": "verbal_abuse",
        "description": "Shouted at.",
        "near_miss": False,
        "harmed": False,
        "occurred_at": made,
    }
    assert post_json(worker, "report", body, key="r1").status_code == 200
    assert post_json(worker, "report", body, key="r1").status_code == 200
    assert post_json(worker, "report", {"near_miss_kind": "left_early"}, key="r2").status_code == 200
    with session(app) as s:
        rows = s.scalars(sa.select(Incident).order_by(Incident.id)).all()
        assert [(i.category.value, i.near_miss) for i in rows] == [("verbal_abuse", False), ("other", True)]


def test_the_report_page_takes_four_answers_or_one_tap(app, web_as, org) -> None:
    worker = web_as(org.practitioner)
    page = worker.get("/app/report")
    assert page.status_code == 200
    assert len(re.findall(r'<button[^>]*name="nm-kind"', text(page))) == 3
    empty = worker.post("/app/report", {})
    assert empty.status_code == 422
    for field in ("category", "description", "near_miss", "harmed"):
        assert f'href="#{field}"' in text(empty)
    sent = worker.post(
        "/app/report",
        {"category": "threat", "description": "Threatened at the door.", "near_miss": "no", "harmed": "no"},
    )
    assert sent.status_code == 302
    assert worker.post("/app/near-miss", {"nm-kind": "did_not_enter"}).status_code == 302
    with session(app) as s:
        assert [i.near_miss for i in s.scalars(sa.select(Incident).order_by(Incident.id))] == [False, True]


def test_the_reminder_text_shows_on_the_open_page(app, web_as, org, clock, sweep, console_sms) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    assert worker.client.get("/app/status").get_json()["reminder"] is None
    clock.advance(minutes=26)
    sweep()
    with session(app) as s:
        [reminder] = s.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.purpose == MessagePurpose.REMINDER)
        )
        body = reminder.body
    assert worker.client.get("/app/status").get_json()["reminder"] == body
    assert body in text(worker.get("/app")).replace("&#39;", "'")


def test_the_service_worker_may_control_the_page_and_the_manifest_installs_it(web) -> None:
    worker = web.client.get("/app/sw.js")
    assert worker.status_code == 200
    assert worker.headers["Service-Worker-Allowed"] == "/app"
    assert worker.mimetype == "text/javascript"
    assert "/static/js/app.js?v=" in worker.get_data(as_text=True)
    manifest = web.client.get("/app/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    data = manifest.get_json()
    assert data["start_url"] == "/app"
    assert data["display"] == "standalone"
    assert {icon["sizes"] for icon in data["icons"]} >= {"192x192", "512x512"}
    for icon in data["icons"]:
        assert web.get(icon["src"]).status_code == 200


@pytest.mark.parametrize("path", ["/app/check-in", "/app/extend", "/app/check-out", "/app/panic"])
def test_forms_posted_without_the_csrf_token_change_nothing(app, web_as, org, path) -> None:
    worker = web_as(org.practitioner)
    checked_in(worker)
    before = visits(app)[0]
    assert (
        worker.post(
            path, {"address": "2 Park Road", "minutes": "30", "quick": "15", "confirmed": "yes"}, csrf=False
        ).status_code
        == 400
    )
    after = visits(app)
    assert [(v.id, v.status, v.due_at) for v in after] == [(before.id, before.status, before.due_at)]
    assert count(app, Alarm) == 0
