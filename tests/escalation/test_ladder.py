"""The overdue ladder end to end: the HTTP API, the sweep at chosen instants, the texts it sends.

Default policy (safetycheck/defaults/escalation.toml): a reminder 5 minutes before due; the worker at due; the
team's managers at +10 min; managers and on-call at +20 min, repeating every 10 minutes until
someone acknowledges. The `org` fixture's on-call person is also a manager of the team, so a duty
officer from another team is added here to tell the `on_call` group from `team_managers`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.visits.enums import VisitStatus
from tests.escalation import helpers as h

ACK_LINE = re.compile(r"Reply ACK ([A-Z0-9]+) to take charge$")


def escalate_to(clock: Any, sweep: Any, due: Any, *minutes: int) -> None:
    """Sweep at each of these minutes after the due time (the ladder's checkpoints)."""
    for minute in minutes:
        h.move_to(clock, due, minutes=minute)
        sweep()


# --- reminders ------------------------------------------------------------------------------


def test_reminder_goes_to_the_worker_five_minutes_before_due_and_only_once(
    app, clock, org, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)

    h.move_to(clock, due, minutes=-5, seconds=-1)
    sweep()
    assert console_sms.sent == []

    h.move_to(clock, due, minutes=-5)
    sweep()
    [reminder] = console_sms.sent
    assert reminder.to == org.practitioner.phone
    assert "09:30 GMT" in reminder.body
    assert h.ADDRESS in reminder.body
    assert "OK" in reminder.body
    assert "EXT" in reminder.body
    assert "ACK" not in reminder.body

    for seconds in (0, 30, 240):  # later sweeps before due: no second reminder
        h.move_to(clock, due, minutes=-5, seconds=seconds)
        sweep()
    assert len(console_sms.sent) == 1
    [row] = h.outbox(app, visit_id=visit["id"])
    assert (row.purpose, row.status, row.recipient_id) == (
        MessagePurpose.REMINDER,
        OutboxStatus.SENT,
        org.practitioner.id,
    )


def test_an_extension_earns_a_new_reminder_for_the_new_due_time(app, clock, org, worker, console_sms, sweep):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    h.move_to(clock, due, minutes=-5)
    sweep()
    assert len(console_sms.sent) == 1

    h.move_to(clock, due, minutes=-2)
    extended = worker.post(f"/api/v1/visits/{visit['id']}/extend", json={"minutes": 15})
    assert extended.status_code == 200
    new_due = h.due_at(extended.get_json())
    assert new_due == due + timedelta(minutes=15)  # an on-time visit is extended from its due time

    h.move_to(clock, new_due, minutes=-5, seconds=-1)
    sweep()
    assert len(console_sms.sent) == 1
    h.move_to(clock, new_due, minutes=-5)
    sweep()
    assert h.bodies_to(console_sms, org.practitioner.phone)[1:] == [
        f"SafetyCheck: your visit at {h.ADDRESS} is due to end at 09:45 GMT. "
        "Reply OK when you leave, or EXT 15 to extend by 15 minutes."
    ]
    assert [r.purpose for r in h.outbox(app, visit_id=visit["id"])] == [MessagePurpose.REMINDER] * 2


def test_a_visit_shorter_than_the_reminder_window_gets_no_reminder(
    app, clock, org, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=4)
    due = h.due_at(visit)
    for seconds in range(0, 240, 30):
        h.move_to(clock, due, minutes=-4, seconds=seconds)
        sweep()
    assert console_sms.sent == []

    h.move_to(clock, due)
    sweep()
    [text] = console_sms.sent  # the worker's overdue text, and nothing before it
    assert "was due to end" in text.body
    assert [r.purpose for r in h.outbox(app, visit_id=visit["id"])] == [MessagePurpose.ESCALATION]


# --- the ladder -----------------------------------------------------------------------------


def test_at_due_only_the_worker_is_texted_and_asked_for_ok_or_ext(
    app, clock, org, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)

    h.move_to(clock, due, seconds=-1)
    sweep()  # sends the reminder, nothing else
    assert len(console_sms.sent) == 1
    assert h.visit(app, visit["id"]).status == VisitStatus.ACTIVE
    assert h.alarms_for_visit(app, visit["id"]) == []

    h.move_to(clock, due)
    report = sweep()
    assert report.done["visits.mark_overdue"] == 1
    [text] = console_sms.sent[1:]
    assert text.to == org.practitioner.phone
    assert text.body == (
        f"SafetyCheck: your visit at {h.ADDRESS} was due to end at 09:30 GMT. Your managers are alerted "
        "at 09:40 GMT. Reply OK if you are safe and have left, or EXT 30 to extend by 30 minutes."
    )
    assert "ACK" not in text.body
    alarm = h.only_alarm(app, visit["id"])
    assert (alarm.kind, alarm.status, alarm.executed_steps) == (AlarmKind.OVERDUE, AlarmStatus.OPEN, 1)
    assert alarm.next_step_at == due + timedelta(minutes=10)
    shown = worker.get(f"/api/v1/visits/{visit['id']}").get_json()
    assert shown["status"] == "overdue"

    h.move_to(clock, due, minutes=9, seconds=59)
    sweep()
    assert len(console_sms.sent) == 2  # managers not yet


def test_managers_get_who_where_when_location_and_the_ack_code_after_ten_minutes(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30, location=h.LOCATION)
    due = h.due_at(visit)
    escalate_to(clock, sweep, due, 0)

    h.move_to(clock, due, minutes=10)
    sent_before = len(console_sms.sent)
    sweep()
    step = console_sms.sent[sent_before:]
    # Both of the team's managers (one of them happens to be on call); not the duty officer yet.
    assert sorted(m.to for m in step) == sorted([org.manager.phone, org.on_call.phone])
    [listed] = h.open_alarm_list(boss)
    assert listed["visit_id"] == visit["id"]
    code = listed["code"]
    assert re.fullmatch(r"[A-Z0-9]{4,8}", code)
    for text in step:
        assert "Priya Practitioner" in text.body
        assert org.practitioner.phone in text.body
        assert h.ADDRESS in text.body
        assert "Due 09:30 GMT" in text.body
        assert h.MAPS_LINK in text.body
        assert text.body.endswith(f"Reply ACK {code} to take charge")
        assert ACK_LINE.search(text.body)[1] == code
    assert h.recipients(app, listed["id"]) == {org.practitioner.id, org.manager.id, org.on_call.id}


def test_without_a_shared_location_the_text_says_so(app, clock, org, worker, console_sms, sweep):
    visit = h.check_in(worker, minutes=30)
    escalate_to(clock, sweep, h.due_at(visit), 0, 10)
    manager_texts = h.bodies_to(console_sms, org.manager.phone)
    assert len(manager_texts) == 1
    assert "Last location: not shared." in manager_texts[0]
    assert "maps.google.com" not in manager_texts[0]


def test_a_location_posted_during_the_visit_is_the_one_in_the_text(
    app, clock, org, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30, location=h.LOCATION)
    h.move_to(clock, h.due_at(visit), minutes=-10)
    moved = worker.post(
        f"/api/v1/visits/{visit['id']}/location", json={"lat": 53.8, "lon": -1.5, "accuracy_m": 5}
    )
    assert moved.status_code == 204
    escalate_to(clock, sweep, h.due_at(visit), 0, 10)
    [text] = h.bodies_to(console_sms, org.manager.phone)
    assert "Last location (09:20 GMT): https://maps.google.com/?q=53.80000,-1.50000" in text


def test_on_call_joins_at_twenty_minutes_and_the_step_repeats_every_ten(
    app, clock, org, duty, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    escalate_to(clock, sweep, due, 0, 10)
    assert h.bodies_to(console_sms, duty.phone) == []

    everyone_but_worker = sorted([org.manager.phone, org.on_call.phone, duty.phone])
    h.move_to(clock, due, minutes=19, seconds=59)
    sent = len(console_sms.sent)
    sweep()
    assert len(console_sms.sent) == sent

    for minute, label in ((20, ""), (30, " (reminder 1)"), (40, " (reminder 2)")):
        h.move_to(clock, due, minutes=minute)
        sent = len(console_sms.sent)
        sweep()
        assert h.phones_texted(console_sms, sent) == everyone_but_worker, minute
        assert all(m.body.startswith(f"SAFETYCHECK OVERDUE{label}:") for m in console_sms.sent[sent:])
        h.move_to(clock, due, minutes=minute + 9, seconds=59)
        sweep()
        assert len(console_sms.sent) == sent + 3  # nothing between two repeats

    assert len(h.bodies_to(console_sms, org.practitioner.phone)) == 1  # the worker only at due
    alarm = h.only_alarm(app, visit["id"])
    assert alarm.executed_steps == 5
    assert alarm.next_step_at == due + timedelta(minutes=50)


# --- acknowledging --------------------------------------------------------------------------


def test_ack_stops_the_ladder_and_tells_the_others_texted_but_never_the_worker(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    escalate_to(clock, sweep, due, 0, 10, 20)
    [alarm] = h.open_alarm_list(boss)

    h.move_to(clock, due, minutes=22)
    answer = boss.post(f"/api/v1/alarms/{alarm['id']}/acknowledge")
    assert answer.status_code == 200
    acked = answer.get_json()
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", org.manager.id)
    assert acked["acknowledged_at"] == "2026-03-02T09:52:00+00:00"

    sent = len(console_sms.sent)
    sweep()
    notices = console_sms.sent[sent:]
    assert sorted(m.to for m in notices) == sorted([org.on_call.phone, duty.phone])
    assert all("Morgan Manager has taken charge" in m.body and alarm["code"] in m.body for m in notices)

    for minute in (30, 40, 60, 120):
        h.move_to(clock, due, minutes=minute)
        sweep()
    assert len(console_sms.sent) == sent + 2
    assert len(h.bodies_to(console_sms, org.practitioner.phone)) == 1
    assert not any("taken charge" in body for body in h.bodies_to(console_sms, org.practitioner.phone))
    row = h.alarm(app, alarm["id"])
    assert (row.status, row.next_step_at, row.executed_steps) == (AlarmStatus.ACKNOWLEDGED, None, 3)
    assert [r for r in h.escalations(app, alarm["id"]) if r.status == OutboxStatus.PENDING] == []


def test_a_second_ack_answers_200_naming_the_first_acknowledger(
    app, clock, org, duty, worker, boss, as_user, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    escalate_to(clock, sweep, h.due_at(visit), 0, 10, 20)
    [alarm] = h.open_alarm_list(boss)
    assert boss.post(f"/api/v1/alarms/{alarm['id']}/acknowledge").status_code == 200
    sweep()
    sent = len(console_sms.sent)

    clock.advance(minutes=1)
    late = as_user(org.on_call).post(f"/api/v1/alarms/{alarm['id']}/acknowledge")
    assert late.status_code == 200
    body = late.get_json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", org.manager.id)
    # The duty officer was texted, so they may acknowledge though they are outside the team.
    assert as_user(duty).post(f"/api/v1/alarms/{alarm['id']}/acknowledge").get_json()["acknowledged_by"] == (
        org.manager.id
    )
    sweep()
    assert len(console_sms.sent) == sent  # no second round of notices


# --- the worker answers late ----------------------------------------------------------------


def test_a_late_check_out_stands_down_everyone_texted_except_the_worker(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    escalate_to(clock, sweep, due, 0, 10, 20)
    [alarm] = h.open_alarm_list(boss)

    h.move_to(clock, due, minutes=24)
    answer = worker.post(f"/api/v1/visits/{visit['id']}/checkout", json={})
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "completed"

    sent = len(console_sms.sent)
    sweep()
    stand_downs = console_sms.sent[sent:]
    assert sorted(m.to for m in stand_downs) == sorted([org.manager.phone, org.on_call.phone, duty.phone])
    for text in stand_downs:
        assert text.body.startswith(f"SafetyCheck STAND DOWN: alert {alarm['code']} for Priya Practitioner")
        assert "checked out safely" in text.body

    row = h.alarm(app, alarm["id"])
    assert (row.status, row.outcome, row.next_step_at) == (AlarmStatus.RESOLVED, "checked_out", None)
    assert row.resolved_at == clock.now()
    stored = h.visit(app, visit["id"])
    assert (stored.status, stored.checked_out_at) == (VisitStatus.COMPLETED, clock.now())

    for minute in (30, 40, 90):
        h.move_to(clock, due, minutes=minute)
        sweep()
    assert len(console_sms.sent) == sent + 3
    assert len(h.bodies_to(console_sms, org.practitioner.phone)) == 1


def test_extending_an_overdue_visit_resolves_its_alarm_and_restarts_from_now(
    app, clock, org, worker, boss, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    escalate_to(clock, sweep, due, 0, 10)
    [alarm] = h.open_alarm_list(boss)

    now = h.move_to(clock, due, minutes=13)
    answer = worker.post(f"/api/v1/visits/{visit['id']}/extend", json={"minutes": 20})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == "active"
    new_due = h.due_at(body)
    assert new_due == now + timedelta(minutes=20)  # from now, not from the old due time

    row = h.alarm(app, alarm["id"])
    assert (row.status, row.outcome) == (AlarmStatus.RESOLVED, "extended")
    sent = len(console_sms.sent)
    sweep()
    assert sorted(m.to for m in console_sms.sent[sent:]) == sorted([org.manager.phone, org.on_call.phone])
    assert all("extended their visit by 20 minutes" in m.body for m in console_sms.sent[sent:])

    # Nothing more for the old alarm; the new due time gets its own reminder and its own alarm.
    h.move_to(clock, due, minutes=20)
    sent = len(console_sms.sent)
    sweep()
    assert len(console_sms.sent) == sent
    h.move_to(clock, new_due, minutes=-5)
    sweep()
    h.move_to(clock, new_due)
    sweep()
    texts = [m.body for m in console_sms.sent[sent:]]
    assert len(texts) == 2
    assert "is due to end at 10:03 GMT" in texts[0]
    assert "was due to end at 10:03 GMT" in texts[1]
    first, second = h.alarms_for_visit(app, visit["id"])
    assert first.id == alarm["id"]
    assert (second.status, second.origin_at, second.code != first.code) == (AlarmStatus.OPEN, new_due, True)


# --- catching up and exactly once -----------------------------------------------------------


def test_after_an_outage_one_sweep_texts_every_step_that_fell_due_once_per_person(
    app, clock, org, duty, worker, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)

    h.move_to(clock, due, minutes=45)  # nothing swept since check-in
    sweep()

    assert sorted(m.to for m in console_sms.sent) == sorted(
        [org.practitioner.phone, org.manager.phone, org.on_call.phone, duty.phone]
    )
    alarm = h.only_alarm(app, visit["id"])
    rows = h.escalations(app, alarm.id)
    assert {r.step_execution for r in rows} == {alarm.executed_steps}  # one merged step
    assert alarm.executed_steps == 5  # worker, managers, on-call, and two repeats, all covered
    assert alarm.next_step_at == due + timedelta(minutes=50)  # the next repeat
    [escalated] = h.timeline(app, "alarm", alarm.id, "escalated")
    assert escalated.details["caught_up"] == 5
    [worker_text] = h.bodies_to(console_sms, org.practitioner.phone)
    assert "ACK" not in worker_text
    # The managers are texted in this same step: the worker must not be told "at 10:20".
    assert "Your managers have been alerted." in worker_text
    assert "are alerted at" not in worker_text

    h.move_to(clock, due, minutes=50)
    sent = len(console_sms.sent)
    sweep()
    assert h.phones_texted(console_sms, sent) == sorted([org.manager.phone, org.on_call.phone, duty.phone])


def test_two_sweeps_at_the_same_instant_text_nothing_twice(app, clock, org, duty, worker, console_sms, sweep):
    visit = h.check_in(worker, minutes=30, location=h.LOCATION)
    due = h.due_at(visit)
    for minute in (-5, 0, 10, 20, 30):
        h.move_to(clock, due, minutes=minute)
        sweep()
        sent = len(console_sms.sent)
        again = sweep()
        assert (
            again.done["visits.mark_overdue"],
            again.done["visits.remind"],
            again.done["escalation.advance_steps"],
            again.done["escalation.drain_outbox"],
        ) == (0, 0, 0, 0), minute
        assert len(console_sms.sent) == sent, minute

    per_person = [m.to for m in console_sms.sent]
    assert per_person.count(org.practitioner.phone) == 2  # reminder and due
    assert per_person.count(org.manager.phone) == 3  # +10, +20, +30
    assert per_person.count(duty.phone) == 2  # +20, +30
    keys = [r.dedupe_key for r in h.outbox(app)]
    assert len(keys) == len(set(keys)) == len(console_sms.sent)


# --- the alarms API: reach, resolve ---------------------------------------------------------


def test_alarms_are_out_of_reach_for_other_teams_and_forbidden_to_practitioners(
    app, clock, org, worker, boss, as_user, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    escalate_to(clock, sweep, h.due_at(visit), 0, 10)
    [alarm] = h.open_alarm_list(boss)

    outsider = as_user(org.other_manager)
    listed = outsider.get("/api/v1/alarms")
    assert listed.status_code == 200
    assert listed.get_json()["items"] == []
    assert listed.get_json()["total"] == 0
    assert outsider.get(f"/api/v1/alarms/{alarm['id']}").status_code == 404
    refused = outsider.post(f"/api/v1/alarms/{alarm['id']}/acknowledge")
    assert refused.status_code == 404
    assert refused.get_json()["code"] == 404
    assert outsider.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "safe"}).status_code == 404

    assert worker.get("/api/v1/alarms").status_code == 403
    assert as_user(org.colleague).get("/api/v1/alarms").status_code == 403
    assert h.alarm(app, alarm["id"]).status == AlarmStatus.OPEN
    assert boss.get(f"/api/v1/alarms/{alarm['id']}").get_json()["code"] == alarm["code"]


def test_resolving_records_outcome_and_notes_and_tells_those_texted(
    app, clock, org, duty, worker, boss, console_sms, sweep
):
    visit = h.check_in(worker, minutes=30)
    escalate_to(clock, sweep, h.due_at(visit), 0, 10, 20)
    [alarm] = h.open_alarm_list(boss)

    answer = boss.post(
        f"/api/v1/alarms/{alarm['id']}/resolve",
        json={"outcome": "safe", "notes": "Phoned her: battery died, all fine."},
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["status"], body["outcome"], body["resolution_notes"]) == (
        "resolved",
        "safe",
        "Phoned her: battery died, all fine.",
    )
    assert body["acknowledged_by"] == org.manager.id  # resolving is taking charge too
    row = h.alarm(app, alarm["id"])
    assert (row.status, row.outcome, row.resolved_by, row.resolved_at) == (
        AlarmStatus.RESOLVED,
        "safe",
        org.manager.id,
        clock.now(),
    )
    assert h.visit(app, visit["id"]).status == VisitStatus.COMPLETED

    sent = len(console_sms.sent)
    sweep()
    assert sorted(m.to for m in console_sms.sent[sent:]) == sorted([org.on_call.phone, duty.phone])
    assert all("STAND DOWN" in m.body for m in console_sms.sent[sent:])

    again = boss.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "false_alarm"})
    assert again.status_code == 409
    assert again.get_json()["code"] == 409
    assert h.alarm(app, alarm["id"]).outcome == "safe"


@pytest.mark.parametrize("outcome", ["bogus", "checked_out", "superseded", ""])
def test_resolving_with_a_bad_outcome_names_the_field_and_changes_nothing(
    app, clock, org, worker, boss, console_sms, sweep, outcome
):
    visit = h.check_in(worker, minutes=30)
    escalate_to(clock, sweep, h.due_at(visit), 0, 10)
    [alarm] = h.open_alarm_list(boss)

    answer = boss.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": outcome, "notes": "x"})
    assert answer.status_code == 422
    assert "outcome" in answer.get_json()["errors"]

    row = h.alarm(app, alarm["id"])
    assert (row.status, row.outcome, row.resolution_notes, row.acknowledged_by) == (
        AlarmStatus.OPEN,
        None,
        None,
        None,
    )
    assert h.visit(app, visit["id"]).status == VisitStatus.OVERDUE
    sent = len(console_sms.sent)
    sweep()
    assert len(console_sms.sent) == sent
