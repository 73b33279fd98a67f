"""Panic and duress: red alerts that go to managers and on-call at once and never to the worker.

A duress check-out must be indistinguishable, from the worker's phone, from a normal one: whoever
holds the phone may be the threat. So the tests compare what the worker's phone sees after a
duress check-out with what it sees after an ordinary check-out of an identical visit.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from safetycheck.accounts.models import User
from safetycheck.escalation.enums import AlarmKind, AlarmStatus
from safetycheck.escalation.models import Alarm
from safetycheck.visits.enums import VisitStatus
from tests.escalation import helpers as h

DURESS_PIN = "9911"
TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")
ID = re.compile(rb'"(id|alarm_id|visit_id)":\d+')
CODE = re.compile(rb'"code":"[A-Z0-9]+"')


def without_ids_and_times(raw: bytes) -> bytes:
    """The answer with ids, alarm codes and timestamps blanked, for comparing two visits."""
    return CODE.sub(b'"code":"*"', ID.sub(rb'"\1":0', TIMESTAMP.sub(b"T", raw)))


def visit_then_checkout(clock: Any, worker: Any, *, minutes_in: int, **body: Any) -> tuple[dict, Any]:
    visit = h.check_in(worker, minutes=30, location=h.LOCATION)
    clock.advance(minutes=minutes_in)
    answer = worker.post(f"/api/v1/visits/{visit['id']}/checkout", json=body)
    return visit, answer


# --- panic ----------------------------------------------------------------------------------


def test_panic_texts_managers_and_on_call_at_once_never_the_worker_and_repeats_until_ack(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    visit = h.check_in(worker, minutes=120, location=h.LOCATION)
    # Even a practitioner who is (wrongly) marked on call must not be texted about their own panic.
    with h.session(app) as s:
        s.get(User, org.practitioner.id).on_call = True
        s.commit()
    clock.advance(minutes=7)

    answer = worker.post("/api/v1/alarms", json={"kind": "panic", "message": "door locked behind me"})
    assert answer.status_code == 201
    alarm = answer.get_json()
    assert (alarm["kind"], alarm["status"], alarm["visit_id"]) == ("panic", "open", visit["id"])
    pressed_at = clock.now()

    sweep()
    everyone = sorted([org.manager.phone, org.on_call.phone, duty.phone])
    assert h.phones_texted(console_sms) == everyone
    for text in console_sms.sent:
        assert text.body.startswith("SAFETYCHECK PANIC: Priya Practitioner")
        assert h.ADDRESS in text.body
        assert "09:07 GMT" in text.body
        assert h.MAPS_LINK in text.body
        assert '"door locked behind me"' in text.body
        assert text.body.endswith(f"Reply ACK {alarm['code']} to take charge")

    for minutes, expected in ((4, 3), (5, 6), (9, 6), (10, 9)):
        h.move_to(clock, pressed_at, minutes=minutes, seconds=59 if minutes in (4, 9) else 0)
        sweep()
        assert len(console_sms.sent) == expected, minutes
    assert "(reminder 2)" in console_sms.sent[-1].body

    h.move_to(clock, pressed_at, minutes=11)
    assert boss.post(f"/api/v1/alarms/{alarm['id']}/acknowledge").status_code == 200
    for minutes in (11, 15, 20, 60):
        h.move_to(clock, pressed_at, minutes=minutes)
        sweep()
    notices = console_sms.sent[9:]
    assert sorted(m.to for m in notices) == sorted([org.on_call.phone, duty.phone])
    assert all("taken charge" in m.body for m in notices)
    assert org.practitioner.phone not in [m.to for m in console_sms.sent]
    assert [r for r in h.outbox(app) if r.to_phone == org.practitioner.phone] == []


def test_panic_without_a_visit_says_no_visit_in_progress(app, clock, org, worker, console_sms, sweep):
    answer = worker.post("/api/v1/alarms", json={"kind": "panic"})
    assert answer.status_code == 201
    assert answer.get_json()["visit_id"] is None

    sweep()
    [text] = h.bodies_to(console_sms, org.manager.phone)
    assert "(no visit in progress)" in text
    assert "Last location: not shared." in text


OLD_ADDRESS = "3 Old Road, Leeds LS2 9JT"


@pytest.mark.parametrize("whose", ["checked-out", "a-colleagues", "unknown"])
def test_a_panic_naming_a_visit_that_is_not_current_is_raised_with_no_visit_in_progress(
    app, clock, org, as_user, worker, console_sms, sweep, whose
):
    old = h.check_in(worker, minutes=30, address=OLD_ADDRESS, location=h.LOCATION)
    assert worker.post(f"/api/v1/visits/{old['id']}/checkout", json={}).status_code == 200
    named = {
        "checked-out": old["id"],
        "a-colleagues": h.check_in(as_user(org.colleague), minutes=30, address=OLD_ADDRESS)["id"],
        "unknown": 987654,
    }[whose]
    clock.advance(minutes=30)

    answer = worker.post("/api/v1/alarms", json={"kind": "panic", "visit_id": named})
    assert answer.status_code == 201, answer.get_json()  # a panic is never refused
    assert answer.get_json()["visit_id"] is None
    assert h.alarm(app, answer.get_json()["id"]).visit_id is None
    [hint] = h.timeline(app, "alarm", answer.get_json()["id"], "visit_hint_ignored")
    assert hint.details == {"ignored_visit_id": named}
    sweep()
    [text] = h.bodies_to(console_sms, org.manager.phone)
    assert "(no visit in progress)" in text
    assert OLD_ADDRESS not in text


def test_a_panic_naming_an_old_visit_during_a_new_one_is_tied_to_the_new_one(
    app, clock, org, worker, console_sms, sweep
):
    old = h.check_in(worker, minutes=30, address=OLD_ADDRESS)
    assert worker.post(f"/api/v1/visits/{old['id']}/checkout", json={}).status_code == 200
    current = h.check_in(worker, minutes=30)

    answer = worker.post("/api/v1/alarms", json={"kind": "panic", "visit_id": old["id"]})
    assert answer.status_code == 201
    assert answer.get_json()["visit_id"] == current["id"]
    sweep()
    [text] = h.bodies_to(console_sms, org.manager.phone)
    assert f"at {h.ADDRESS}" in text
    assert OLD_ADDRESS not in text


def test_pressing_panic_again_within_fifteen_minutes_joins_the_same_alarm(
    app, clock, org, worker, console_sms, sweep
):
    first = worker.post("/api/v1/alarms", json={"kind": "panic"}).get_json()
    sweep()
    sent = len(console_sms.sent)

    clock.advance(minutes=3)
    again = worker.post(
        "/api/v1/alarms", json={"kind": "panic", "message": "still here", "location": h.LOCATION}
    )
    assert again.status_code == 201
    assert again.get_json()["id"] == first["id"]
    sweep()
    assert len(console_sms.sent) == sent  # a second press does not restart or double the ladder

    clock.advance(minutes=2)  # the ladder's own 5-minute repeat carries the new details
    sweep()
    repeat = h.bodies_to(console_sms, org.manager.phone)[-1]
    assert "(reminder 1)" in repeat
    assert '"still here"' in repeat
    assert h.MAPS_LINK in repeat
    assert h.count(app, Alarm) == 1


def test_the_panic_endpoint_raises_only_panic_alarms(app, clock, org, worker, boss):
    refused = worker.post("/api/v1/alarms", json={"kind": "duress"})
    assert refused.status_code == 422
    assert "kind" in refused.get_json()["errors"]
    assert boss.post("/api/v1/alarms", json={"kind": "panic"}).status_code == 403
    assert boss.get("/api/v1/alarms").get_json()["items"] == []


# --- duress ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ordinary", [{}, {"pin": "1234"}], ids=["no-pin", "wrong-pin"])
def test_a_duress_check_out_answers_byte_for_byte_like_a_normal_one(
    app, clock, org, worker, console_sms, sweep, ordinary
):
    normal_visit, normal = visit_then_checkout(clock, worker, minutes_in=10, **ordinary)
    duress_visit, duress = visit_then_checkout(clock, worker, minutes_in=10, pin=DURESS_PIN)

    assert normal.status_code == duress.status_code == 200
    assert normal.headers == duress.headers  # content type and length too
    assert without_ids_and_times(normal.data) == without_ids_and_times(duress.data)
    assert duress.get_json()["status"] == "completed"
    assert ([a.kind for a in h.alarms_for_visit(app, normal_visit["id"])]) == []
    assert [a.kind for a in h.alarms_for_visit(app, duress_visit["id"])] == [AlarmKind.DURESS]


def test_the_worker_never_sees_the_duress_alarm_but_the_manager_does(
    app, clock, org, worker, boss, console_sms, sweep
):
    normal_visit, _ = visit_then_checkout(clock, worker, minutes_in=10)
    duress_visit, _ = visit_then_checkout(clock, worker, minutes_in=10, pin=DURESS_PIN)
    sweep()

    mine = worker.get(f"/api/v1/visits/{duress_visit['id']}")
    assert mine.status_code == 200
    shown = mine.get_json()
    assert shown["status"] == "completed"
    assert shown["alarms"] == []
    assert [e["event"] for e in shown["timeline"]] == ["checked_in", "checked_out"]
    ordinary = worker.get(f"/api/v1/visits/{normal_visit['id']}")
    assert without_ids_and_times(mine.data) == without_ids_and_times(ordinary.data)
    listed = worker.get("/api/v1/visits?status=completed").get_json()["items"]
    assert {v["id"]: v["status"] for v in listed} == {
        normal_visit["id"]: "completed",
        duress_visit["id"]: "completed",
    }

    [alarm] = h.open_alarm_list(boss)
    assert (alarm["kind"], alarm["visit_id"]) == ("duress", duress_visit["id"])
    seen = boss.get(f"/api/v1/visits/{duress_visit['id']}").get_json()
    assert [a["kind"] for a in seen["alarms"]] == ["duress"]
    assert "duress_pin_used" in [e["event"] for e in seen["timeline"]]


def test_duress_texts_go_to_managers_and_on_call_never_to_the_workers_phone(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    visit, _ = visit_then_checkout(clock, worker, minutes_in=10, pin=DURESS_PIN)
    raised = clock.now()
    for minutes in (0, 5, 10):
        h.move_to(clock, raised, minutes=minutes)
        sweep()

    everyone = sorted([org.manager.phone, org.on_call.phone, duty.phone])
    assert h.phones_texted(console_sms) == sorted(everyone * 3)
    [alarm] = h.open_alarm_list(boss)
    for text in console_sms.sent:
        assert text.body.startswith("SAFETYCHECK DURESS")
        assert "used the duress PIN" in text.body
        assert h.ADDRESS in text.body
        assert h.MAPS_LINK in text.body  # the last position, although check-out ended tracking
        assert text.body.endswith(f"Reply ACK {alarm['code']} to take charge")
    assert [r for r in h.outbox(app) if r.to_phone == org.practitioner.phone] == []
    assert h.recipients(app, alarm["id"]) == {org.manager.id, org.on_call.id, duty.id}
    assert h.visit(app, visit["id"]).last_lat is None


def test_duress_on_an_overdue_visit_supersedes_the_overdue_alarm_without_a_safe_text(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    # For comparison: an ordinary late check-out at the same point of the ladder.
    normal = h.check_in(worker, minutes=30)
    for minute in (0, 12):
        h.move_to(clock, h.due_at(normal), minutes=minute)
        sweep()
    assert worker.post(f"/api/v1/visits/{normal['id']}/checkout", json={}).status_code == 200
    sweep()
    assert any("STAND DOWN" in m.body for m in console_sms.sent)
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    for minute in (0, 12):
        h.move_to(clock, due, minutes=minute)
        sweep()
    [overdue] = h.alarms_for_visit(app, visit["id"])
    before_checkout = len(console_sms.sent)
    answer = worker.post(f"/api/v1/visits/{visit['id']}/checkout", json={"pin": DURESS_PIN})
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "completed"
    sweep()

    superseded, duress = h.alarms_for_visit(app, visit["id"])
    assert superseded.id == overdue.id
    assert (superseded.status, superseded.outcome) == (AlarmStatus.RESOLVED, "superseded")
    assert (duress.kind, duress.status) == (AlarmKind.DURESS, AlarmStatus.OPEN)
    after = console_sms.sent[before_checkout:]
    assert sorted(m.to for m in after) == sorted([org.manager.phone, org.on_call.phone, duty.phone])
    assert all(m.body.startswith("SAFETYCHECK DURESS") for m in after)  # no stand-down, no "safe"
    assert not any("STAND DOWN" in m.body or re.search(r"\bsafe\b", m.body, re.I) for m in after)
    assert h.visit(app, visit["id"]).status == VisitStatus.COMPLETED

    # The duress alarm repeats; the superseded overdue alarm says nothing more.
    for _ in range(3):
        clock.advance(minutes=5)
        sweep()
    later = console_sms.sent[before_checkout + 3 :]
    assert len(later) == 3 * 3  # three people at +5, +10 and +15
    assert all(m.body.startswith("SAFETYCHECK DURESS (reminder") for m in later)
    assert org.practitioner.phone not in [m.to for m in console_sms.sent[before_checkout:]]

    # The worker's phone sees the same as after an ordinary late check-out.
    mine = worker.get(f"/api/v1/visits/{visit['id']}")
    theirs = worker.get(f"/api/v1/visits/{normal['id']}")
    assert [(a["kind"], a["status"], a["outcome"]) for a in mine.get_json()["alarms"]] == [
        ("overdue", "resolved", "checked_out")
    ]
    assert without_ids_and_times(mine.data) == without_ids_and_times(theirs.data)


def test_a_wrong_pin_is_an_ordinary_check_out(app, clock, org, worker, boss, console_sms, sweep):
    visit, answer = visit_then_checkout(clock, worker, minutes_in=10, pin="1234")
    assert answer.status_code == 200
    for minutes in (0, 5, 10, 60):
        clock.advance(minutes=minutes)
        sweep()

    assert console_sms.sent == []
    assert h.alarms_for_visit(app, visit["id"]) == []
    assert h.open_alarm_list(boss) == []
    assert [e.event for e in h.timeline(app, "visit", visit["id"])] == ["checked_in", "checked_out"]


def test_a_press_joins_an_open_panic_alarm_of_any_age_but_not_one_someone_has_taken(
    app, clock, org, worker, boss, sweep, console_sms
):
    first = worker.post("/api/v1/alarms", json={"kind": "panic"}).get_json()
    sweep()
    clock.advance(minutes=40)  # nobody has answered for a long time: still the same emergency
    assert worker.post("/api/v1/alarms", json={"kind": "panic"}).get_json()["id"] == first["id"]

    assert boss.post(f"/api/v1/alarms/{first['id']}/acknowledge").status_code == 200
    clock.advance(minutes=1)
    fresh = worker.post("/api/v1/alarms", json={"kind": "panic"}).get_json()
    assert fresh["id"] != first["id"]  # things got worse after someone took charge: a new ladder
    sweep()
    assert any(f"ACK {fresh['code']}" in body for body in h.bodies_to(console_sms, org.manager.phone))
