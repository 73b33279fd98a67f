"""The SMS outbox against a local fake Twilio, through the real twilio SDK over HTTP.

What is proven here: each text reaches Twilio once with the right fields; what surely failed is
retried with back-off; what may have been sent is asked about, never blindly resent; a dead
number is flagged and the ladder moves on to the next contact at once instead of waiting out
the step's delay; an escalation with nobody to text falls back to the admins.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team
from safetycheck.escalation import outbox as outbox_service
from safetycheck.escalation.context import escalation_for
from safetycheck.escalation.enums import AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.escalation.policy import load_policy
from safetycheck.extensions import db
from safetycheck.paths import DEMO_POLICY_PATH
from safetycheck.visits.jobs import mark_overdue_visits
from tests import factories
from tests.conftest import TWILIO_SETTINGS
from tests.escalation import helpers as h


def creates(fake: Any, to: str | None = None) -> list[Any]:
    """The message-creation requests the fake received (accepted or not), optionally to one number."""
    return [
        r
        for r in fake.requests
        if r.method == "POST" and r.path.endswith("/Messages.json") and (to is None or r.params["To"] == to)
    ]


def lookups(fake: Any) -> list[Any]:
    return [r for r in fake.requests if r.method == "GET"]


def overdue_visit(clock: Any, api: Any, sweep: Any) -> dict[str, Any]:
    """Check in for 30 minutes and sweep for the first time at the due time (no reminder)."""
    visit = h.check_in(api, minutes=30)
    h.move_to(clock, h.due_at(visit))
    sweep()
    return visit


@pytest.fixture
def lone_team(app, clock):
    """A team whose only manager may be unreachable, and a duty officer on call in another team."""
    with app.app_context():
        now = clock.now()
        team, elsewhere = factories.make_team(now=now), factories.make_team(now=now)
        people = {
            "manager": factories.make_user(now=now, role=Role.MANAGER, team=team, name="Mo Manager"),
            "worker": factories.make_user(now=now, team=team, name="Wren Worker"),
            "duty": factories.make_user(
                now=now, role=Role.MANAGER, team=elsewhere, on_call=True, name="Dana Duty"
            ),
        }
        factories.loaded(*people.values())
        return people


# --- sending --------------------------------------------------------------------------------


def test_a_text_goes_through_the_sdk_with_to_from_body_and_status_callback(
    app, clock, org, as_user, fake_twilio, sweep
):
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)

    [message] = fake_twilio.messages
    row = h.only_row(app, visit_id=visit["id"])
    assert message.to == org.practitioner.phone
    assert message.from_ == TWILIO_SETTINGS["TWILIO_FROM_NUMBER"]
    assert message.body == row.body
    assert "was due to end at 09:30 GMT" in message.body
    assert message.status_callback == h.STATUS_CALLBACK
    assert creates(fake_twilio)[0].params["StatusCallback"] == h.STATUS_CALLBACK
    assert (row.status, row.sid, row.provider_status, row.attempts, row.sent_at) == (
        OutboxStatus.SENT,
        message.sid,
        "queued",
        1,
        clock.now(),
    )


def test_a_server_error_is_retried_later_with_back_off_and_sent_once(
    app, clock, org, as_user, fake_twilio, sweep
):
    fake_twilio.fail_next(2, 500)
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)
    due = clock.now()

    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.attempts, row.next_attempt_at) == (
        OutboxStatus.PENDING,
        1,
        due + timedelta(seconds=2),
    )
    assert "Internal Server Error" in row.error_message
    h.move_to(clock, due, seconds=1)
    sweep()
    assert len(creates(fake_twilio)) == 1  # not before its time

    h.move_to(clock, due, seconds=2)
    sweep()
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.attempts, row.next_attempt_at) == (
        OutboxStatus.PENDING,
        2,
        due + timedelta(seconds=6),  # 2 s, then 4 s
    )
    h.move_to(clock, due, seconds=6)
    sweep()

    [message] = fake_twilio.messages
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.attempts, row.sid, row.error_code) == (OutboxStatus.SENT, 3, message.sid, None)
    assert len(creates(fake_twilio)) == 3


def test_a_rate_limit_waits_for_retry_after(app, clock, org, as_user, fake_twilio, sweep):
    fake_twilio.fail_next(1, 429, 20429, "Too Many Requests", retry_after=30)
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)
    due = clock.now()
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.error_code, row.next_attempt_at) == (
        OutboxStatus.PENDING,
        20429,
        due + timedelta(seconds=30),
    )

    h.move_to(clock, due, seconds=29)
    sweep()
    assert len(creates(fake_twilio)) == 1
    h.move_to(clock, due, seconds=30)
    sweep()
    assert len(fake_twilio.messages) == 1
    assert h.only_row(app, visit_id=visit["id"]).status == OutboxStatus.SENT


@pytest.mark.parametrize("failure", ["hang", "drop"])
def test_an_unknown_outcome_is_asked_about_not_resent(app, clock, org, as_user, fake_twilio, sweep, failure):
    if failure == "hang":
        fake_twilio.accept_then_hang(1, seconds=5)  # the gateway gives up after 1 s
    else:
        fake_twilio.accept_then_drop(1)
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)
    due = clock.now()

    [accepted] = fake_twilio.messages
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.sid, row.outcome_unknown_since) == (OutboxStatus.PENDING, None, due)
    assert lookups(fake_twilio) == []

    h.move_to(clock, due, seconds=5)
    sweep()

    assert len(lookups(fake_twilio)) >= 1
    assert all(r.params.get("To") == org.practitioner.phone for r in lookups(fake_twilio))
    assert len(creates(fake_twilio)) == 1  # asked, not sent again
    assert [m.sid for m in fake_twilio.messages] == [accepted.sid]
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.sid, row.outcome_unknown_since) == (OutboxStatus.SENT, accepted.sid, None)


@pytest.mark.parametrize("reached_twilio", [True, False], ids=["sent-then-died", "died-before-send"])
def test_a_sender_that_died_mid_send_is_reconciled_not_resent(
    app, clock, org, as_user, fake_twilio, sweep, reached_twilio
):
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit))
    # A sender decides the step, claims the text, maybe reaches Twilio, then dies before it can
    # record anything: the row is left in `sending`.
    with app.app_context():
        esc = escalation_for(app)
        mark_overdue_visits(db.session, clock.now())
        db.session.commit()
        [claimed] = outbox_service.claim_batch(now=clock.now())
        db.session.commit()
        if reached_twilio:
            esc.gateway.send(to=claimed.to_phone, body=claimed.body, status_callback=esc.status_callback)
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.claimed_at) == (OutboxStatus.SENDING, clock.now())

    clock.advance(seconds=59)
    sweep()
    assert h.only_row(app, visit_id=visit["id"]).status == OutboxStatus.SENDING  # not stale yet
    clock.advance(minutes=2)
    sweep()

    [message] = fake_twilio.messages
    assert message.to == org.practitioner.phone
    assert len(creates(fake_twilio)) == 1
    assert len(lookups(fake_twilio)) >= 1
    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.sid) == (OutboxStatus.SENT, message.sid)


# --- dead numbers ---------------------------------------------------------------------------


def test_an_invalid_number_is_flagged_and_the_next_contact_is_texted_at_once(
    app, clock, as_user, lone_team, fake_twilio, sweep
):
    manager, duty = lone_team["manager"], lone_team["duty"]
    fake_twilio.refuse_number(manager.phone, 21211)
    visit = overdue_visit(clock, as_user(lone_team["worker"]), sweep)
    due = h.due_at(visit)

    now = h.move_to(clock, due, minutes=10)
    sweep()
    [refused] = h.outbox(app, recipient_id=manager.id)
    assert (refused.status, refused.error_code, refused.sid) == (OutboxStatus.UNDELIVERABLE, 21211, None)
    flagged = h.user(app, manager.id)
    assert flagged.phone_undeliverable_at == now
    assert "21211" in flagged.phone_undeliverable_reason
    alarm = h.only_alarm(app, visit["id"])
    assert alarm.next_step_at == now  # the +20 step is pulled forward
    assert creates(fake_twilio, duty.phone) == []

    clock.advance(seconds=5)  # the next sweep, not ten minutes later
    sweep()
    [to_duty] = [m for m in fake_twilio.messages if m.to == duty.phone]
    assert to_duty.body.endswith(f"Reply ACK {alarm.code} to take charge")
    assert "Wren Worker" in to_duty.body
    # The flagged manager is still on the step, recorded but not sent to: no second HTTP call.
    assert [(r.status, r.step_execution) for r in h.outbox(app, recipient_id=manager.id)] == [
        (OutboxStatus.UNDELIVERABLE, 2),
        (OutboxStatus.UNDELIVERABLE, 3),
    ]
    assert len(creates(fake_twilio, manager.phone)) == 1
    assert h.alarm(app, alarm.id).next_step_at == due + timedelta(minutes=30)

    h.move_to(clock, due, minutes=30)
    sweep()
    assert len([m for m in fake_twilio.messages if m.to == duty.phone]) == 2
    assert len(creates(fake_twilio, manager.phone)) == 1


def test_an_undelivered_status_skips_to_the_next_contact(app, clock, as_user, lone_team, fake_twilio, sweep):
    manager, duty = lone_team["manager"], lone_team["duty"]
    visit = overdue_visit(clock, as_user(lone_team["worker"]), sweep)
    now = h.move_to(clock, h.due_at(visit), minutes=10)
    sweep()
    [sent] = h.outbox(app, recipient_id=manager.id)

    clock.advance(seconds=20)
    h.deliver_status(app, fake_twilio, sent.sid, "undelivered", 30003)

    row = h.only_row(app, recipient_id=manager.id)
    assert (row.status, row.provider_status, row.error_code) == (
        OutboxStatus.UNDELIVERABLE,
        "undelivered",
        30003,
    )
    assert h.only_alarm(app, visit["id"]).next_step_at == now + timedelta(seconds=20)
    # 30003 (handset off or out of coverage) skips the contact now but does not flag the number.
    assert h.user(app, manager.id).phone_undeliverable_at is None

    clock.advance(seconds=5)
    sweep()
    assert [m.to for m in fake_twilio.messages].count(duty.phone) == 1
    assert [m.to for m in fake_twilio.messages].count(manager.phone) == 2  # tried again in the next step


def test_a_delivered_status_is_recorded(app, clock, org, as_user, fake_twilio, sweep):
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)
    row = h.only_row(app, visit_id=visit["id"])
    clock.advance(seconds=4)

    h.deliver_status(app, fake_twilio, row.sid, "delivered")

    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.provider_status, row.status_updated_at) == (
        OutboxStatus.DELIVERED,
        "delivered",
        clock.now(),
    )


def test_a_text_that_keeps_failing_is_given_up_after_max_attempts(
    app, clock, org, as_user, fake_twilio, sweep
):
    # A refusal of this text (an unexpected 4xx); an outage (5xx, no answer) is waited out for
    # ever instead: tests/escalation/test_twilio_outage.py.
    fake_twilio.fail_next(outbox_service.MAX_ATTEMPTS, 400, code=21617, message="body too long")
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)

    delays = []
    for _ in range(outbox_service.MAX_ATTEMPTS - 1):
        row = h.only_row(app, visit_id=visit["id"])
        assert row.status == OutboxStatus.PENDING
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
        sweep()

    row = h.only_row(app, visit_id=visit["id"])
    assert (row.status, row.attempts, row.next_attempt_at) == (
        OutboxStatus.FAILED,
        outbox_service.MAX_ATTEMPTS,
        None,
    )
    assert delays == [2, 4, 8, 16, 32, 64, 120]
    assert len(creates(fake_twilio)) == outbox_service.MAX_ATTEMPTS
    assert fake_twilio.messages == []
    clock.advance(minutes=5)
    sweep()
    assert len(creates(fake_twilio)) == outbox_service.MAX_ATTEMPTS


def test_ack_cancels_escalation_texts_not_yet_sent(app, clock, org, as_user, fake_twilio, sweep):
    duty = h.make_duty_officer(app, org, now=clock.now())
    visit = overdue_visit(clock, as_user(org.practitioner), sweep)
    due = h.due_at(visit)
    h.move_to(clock, due, minutes=10)
    sweep()

    fake_twilio.fail_next(3, 503)
    h.move_to(clock, due, minutes=20)
    sweep()
    alarm = h.only_alarm(app, visit["id"])
    waiting = [r for r in h.escalations(app, alarm.id) if r.step_execution == 3]
    assert sorted(r.recipient_id for r in waiting) == sorted([org.manager.id, org.on_call.id, duty.id])
    assert {r.status for r in waiting} == {OutboxStatus.PENDING}

    h.move_to(clock, due, minutes=20, seconds=1)
    answer = as_user(org.manager).post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    assert answer.status_code == 200
    assert {r.status for r in h.escalations(app, alarm.id) if r.step_execution == 3} == {
        OutboxStatus.CANCELLED
    }

    attempts_before = len(creates(fake_twilio))
    for minutes in (21, 30, 40):
        h.move_to(clock, due, minutes=minutes)
        sweep()
    new = creates(fake_twilio)[attempts_before:]
    # Told who took charge: the on-call manager, texted at +10. Not the duty officer, whose only
    # escalation text was cancelled before it went: a notice about an alert never received
    # would only confuse them.
    assert [r.params["To"] for r in new] == [org.on_call.phone]
    assert all("taken charge" in r.params["Body"] for r in new)
    assert h.alarm(app, alarm.id).status == AlarmStatus.ACKNOWLEDGED


def test_with_nobody_to_text_the_step_falls_back_to_the_admins(app, clock, as_user, fake_twilio, sweep):
    with app.app_context():
        now = clock.now()
        team = factories.make_team(now=now)  # no managers, and nobody anywhere is on call
        worker = factories.make_user(now=now, team=team, name="Wren Worker")
        admin = factories.make_user(now=now, role=Role.ADMIN, name="Ada Admin")
        factories.loaded(worker, admin)
    visit = overdue_visit(clock, as_user(worker), sweep)
    h.move_to(clock, h.due_at(visit), minutes=10)
    sweep()

    alarm = h.only_alarm(app, visit["id"])
    to_admin_all = [m for m in fake_twilio.messages if m.to == admin.phone]
    # The check-in already warned that this team has no cover (escalation/coverage.py).
    assert len([m for m in to_admin_all if "has no cover" in m.body]) == 1
    [to_admin] = [m for m in to_admin_all if "has no cover" not in m.body]
    assert to_admin.body.startswith("SAFETYCHECK OVERDUE: Wren Worker")
    assert to_admin.body.endswith(f"Reply ACK {alarm.code} to take charge")
    [row] = h.escalations(app, alarm.id)[1:]
    assert (row.recipient_id, row.purpose, row.status) == (
        admin.id,
        MessagePurpose.ESCALATION,
        OutboxStatus.SENT,
    )
    step = h.timeline(app, "alarm", alarm.id, "escalated")[-1]
    assert step.details["fallback"] is True
    assert step.details["notified"] == [admin.id]
    acked = as_user(admin).post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    assert acked.get_json()["acknowledged_by"] == admin.id


def test_asking_twilio_does_not_mistake_an_earlier_identical_text_for_this_one(
    app, clock, as_user, fake_twilio, sweep, monkeypatch
):
    # With steps a minute apart (the demo policy), a manager gets the same words twice within
    # Twilio's look-back window; the second send ends in a 504 that Twilio did not act on.
    monkeypatch.setitem(app.extensions, "safetycheck.policy", load_policy(DEMO_POLICY_PATH))
    with app.app_context():
        now = clock.now()
        team = factories.make_team(now=now)
        alive = factories.make_user(now=now, role=Role.MANAGER, team=team, name="Al Alive")
        worker = factories.make_user(now=now, team=team, name="Wren Worker")
        factories.loaded(alive, worker)
    visit = overdue_visit(clock, as_user(worker), sweep)
    h.move_to(clock, h.due_at(visit), minutes=1)
    sweep()
    [first] = [m for m in fake_twilio.messages if m.to == alive.phone]

    fake_twilio.fail_next(1, 504, None, "Gateway Timeout")
    h.move_to(clock, h.due_at(visit), minutes=2)
    sweep()
    second = h.only_row(app, recipient_id=alive.id, step_execution=3)
    assert (second.status, second.sid) == (OutboxStatus.PENDING, None)  # step 2, repeats from 3
    assert second.outcome_unknown_since is not None
    assert second.body == h.only_row(app, recipient_id=alive.id, step_execution=2).body

    clock.advance(seconds=5)
    sweep()

    to_alive = [m for m in fake_twilio.messages if m.to == alive.phone]
    assert len(to_alive) == 2  # Twilio had nothing for this attempt: it is sent now
    second = h.only_row(app, recipient_id=alive.id, step_execution=3)
    assert (second.status, second.sid) == (OutboxStatus.SENT, to_alive[1].sid)
    assert second.sid != first.sid
    assert h.outbox(app, status=OutboxStatus.SENDING) == []


def test_a_dead_number_does_not_hurry_the_ladder_when_a_colleague_in_the_step_was_reached(
    app, clock, as_user, lone_team, fake_twilio, sweep
):
    with app.app_context():
        team = db.session.get(Team, lone_team["worker"].team_id)
        second = factories.make_user(now=clock.now(), role=Role.MANAGER, team=team, name="Sol Second")
        factories.loaded(second)
    fake_twilio.refuse_number(lone_team["manager"].phone, 21211)
    visit = overdue_visit(clock, as_user(lone_team["worker"]), sweep)
    due = h.due_at(visit)

    h.move_to(clock, due, minutes=10)
    sweep()
    assert [m.to for m in fake_twilio.messages if m.to == second.phone] == [second.phone]
    alarm = h.only_alarm(app, visit["id"])
    assert alarm.next_step_at == due + timedelta(minutes=20)  # Sol has it: on-call keeps its time

    clock.advance(seconds=5)
    sweep()
    assert creates(fake_twilio, lone_team["duty"].phone) == []
