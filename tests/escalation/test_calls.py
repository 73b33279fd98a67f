"""Escalation calls: a step's `call` groups are phoned through the real twilio SDK, and only a 1
pressed on the call takes charge.

The service runs over real HTTP (werkzeug, in a thread) so that the fake Twilio fetches the
TwiML, posts the keypress and the status callbacks, signed, as Twilio would. The test's outer
transaction is shared with the server thread; the test holds no session while a call plays.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from safetycheck.escalation import call_outbox, calls, context, policy
from safetycheck.escalation.call_models import CallOutboxRow, CallOutcome
from safetycheck.escalation.enums import AlarmStatus, OutboxStatus
from tests.escalation import helpers as h
from tests.fake_twilio import sign

# Step 0 texts and phones the team's managers; step 1 (10 minutes on) brings in on-call.
CALL_POLICY = """
[reminder]
before = 0

[overdue]
steps = [
  { after = 0,   notify = ["team_managers"], call = ["team_managers"] },
  { after = 600, notify = ["team_managers", "on_call"], call = ["on_call"] },
  { after = 1200, notify = ["team_managers", "on_call"], repeat_every = 600 },
]

[panic]
steps = [ { after = 0, call = ["team_managers"], repeat_every = 300 } ]

[duress]
steps = [ { after = 0, notify = ["team_managers"] } ]
"""


@pytest.fixture
def call_policy(app: Flask) -> Iterator[policy.Policy]:
    previous = app.extensions["safetycheck.policy"]
    rules = policy.parse_policy(tomllib.loads(CALL_POLICY), "test")
    app.extensions["safetycheck.policy"] = rules
    yield rules
    app.extensions["safetycheck.policy"] = previous


@pytest.fixture
def phone_line(app: Flask, fake_twilio: Any, call_policy: policy.Policy) -> Iterator[Any]:
    """The service on a real port, the fake Twilio routing SAFETYCHECK_PUBLIC_URL to it."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="voice-service", daemon=True)
    thread.start()
    fake_twilio.route(app.config["PUBLIC_URL"], f"http://127.0.0.1:{server.server_port}")
    try:
        yield fake_twilio
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def call_rows(app: Flask, alarm_id: int) -> list[CallOutboxRow]:
    with h.session(app) as s:
        rows = list(
            s.scalars(
                sa.select(CallOutboxRow).where(CallOutboxRow.alarm_id == alarm_id).order_by(CallOutboxRow.id)
            )
        )
        s.expunge_all()
        return rows


def overdue(app: Flask, org: Any, as_user: Any, clock: Any, sweep: Any) -> tuple[Any, list[CallOutboxRow]]:
    """A visit gone overdue; its first step texted and phoned the team's two managers."""
    visit = h.check_in(as_user(org.practitioner), minutes=30, location=h.LOCATION)
    h.move_to(clock, h.due_at(visit), seconds=1)
    sweep()
    alarm = h.only_alarm(app, visit["id"])
    rows = call_rows(app, alarm.id)
    assert sorted(r.recipient_id for r in rows) == sorted([org.manager.id, org.on_call.id])
    assert all(r.status == OutboxStatus.SENT and r.sid for r in rows)
    return alarm, rows


def events(app: Flask, alarm_id: int) -> list[str]:
    return [e.event for e in h.timeline(app, "alarm", alarm_id)]


def test_the_call_reads_the_alarm_out_and_pressing_1_takes_charge(
    app, org, as_user, clock, sweep, phone_line
) -> None:
    alarm, rows = overdue(app, org, as_user, clock, sweep)
    manager_call = next(r for r in rows if r.recipient_id == org.manager.id)
    [placed] = [c for c in phone_line.calls if c.sid == manager_call.sid]
    assert placed.to == org.manager.phone
    assert placed.machine_detection == "Enable"
    assert placed.url == f"http://safetycheck.test/twilio/voice/{manager_call.id}"
    assert set(placed.status_callback_events) == {"initiated", "ringing", "answered", "completed"}

    play = phone_line.answer_call(manager_call.sid, "answer", press="1")

    assert set(play.statuses()) == {200}
    heard = play.said()
    assert "Priya Practitioner" in heard
    assert "14 Acacia Avenue" in heard
    assert "latitude 53.8123" in heard
    assert "Press 1 to take charge" in heard
    assert '<Gather numDigits="1"' in heard
    assert "You have taken charge" in heard
    after = h.alarm(app, alarm.id)
    assert after.status == AlarmStatus.ACKNOWLEDGED
    assert (after.acknowledged_by, after.acknowledged_via) == (org.manager.id, "voice")
    [row] = [r for r in call_rows(app, alarm.id) if r.id == manager_call.id]
    assert row.outcome == CallOutcome.ACKNOWLEDGED
    assert (row.answered_by, row.digits, row.duration_seconds) == ("human", "1", 25)
    assert row.ringing_at is not None
    assert row.answered_at is not None
    assert row.ended_at is not None
    seen = events(app, alarm.id)
    for event in (
        "calls_decided",
        "call_placed",
        "call_ringing",
        "call_answered",
        "call_keypress",
        "acknowledged",
        "call_ended",
    ):
        assert event in seen, event
    # The other manager is told by text who took charge, and their call is not placed again.
    taken = [m for m in h.outbox(app, alarm_id=alarm.id) if m.purpose == "taken_charge"]
    assert [m.recipient_id for m in taken] == [org.on_call.id]
    assert "by phone" in taken[0].body


@pytest.mark.parametrize(
    ("how", "press", "outcome"),
    [
        ("answer", "5", CallOutcome.OTHER_KEY),
        ("silence", None, CallOutcome.NO_KEYPRESS),
    ],
)
def test_another_key_or_silence_do_not_take_charge_and_keep_the_pace(
    app, org, as_user, clock, sweep, phone_line, how, press, outcome
) -> None:
    alarm, rows = overdue(app, org, as_user, clock, sweep)
    for row in rows:
        play = phone_line.answer_call(row.sid, how, press=press)
        assert set(play.statuses()) == {200}
        if press:
            assert "That was not 1" in play.said()
    after = h.alarm(app, alarm.id)
    assert after.status == AlarmStatus.OPEN
    assert after.next_step_at == alarm.origin_at + timedelta(seconds=600)  # the ladder keeps its pace
    assert {r.outcome for r in call_rows(app, alarm.id)} == {outcome}


@pytest.mark.parametrize(
    ("how", "outcome"),
    [
        ("voicemail", CallOutcome.VOICEMAIL),
        ("busy", CallOutcome.BUSY),
        ("no-answer", CallOutcome.NO_ANSWER),
        ("failed", CallOutcome.FAILED),
    ],
)
def test_unanswered_calls_move_the_ladder_on_at_once(
    app, org, as_user, clock, sweep, phone_line, duty, how, outcome
) -> None:
    alarm, rows = overdue(app, org, as_user, clock, sweep)
    first, second = rows
    phone_line.answer_call(first.sid, how, press="1")  # a machine's (or nobody's) 1 counts for nothing
    assert h.alarm(app, alarm.id).next_step_at == alarm.origin_at + timedelta(
        seconds=600
    )  # one still ringing
    play = phone_line.answer_call(second.sid, how)
    assert set(play.statuses()) == {200}
    if how == "voicemail":
        assert "<Gather" not in play.said()
        assert "Please read your texts" in play.said()
        assert "Priya" not in play.said()  # nothing of the alarm on a voicemail
    after = h.alarm(app, alarm.id)
    assert after.status == AlarmStatus.OPEN
    assert after.next_step_at == clock.now()  # nobody heard it: the next step is due now
    assert {r.outcome for r in call_rows(app, alarm.id)} == {outcome}
    ended = h.timeline(app, "alarm", alarm.id, "call_ended")
    assert [e.details["climbed"] for e in ended] == [False, True]

    sweep()  # the next step at once: on-call (the duty officer) texted and phoned
    step = h.alarm(app, alarm.id)
    assert step.executed_steps == 2
    assert duty.id in {r.recipient_id for r in call_rows(app, alarm.id)}


def test_an_unanswered_repeat_does_not_loop(app, org, as_user, clock, sweep, phone_line) -> None:
    """A panic ladder of one repeating call step: an unanswered call waits for the next repeat."""
    worker = as_user(org.practitioner)
    answer = worker.post("/api/v1/alarms", json={"kind": "panic"})
    assert answer.status_code == 201, answer.get_json()
    alarm_id = answer.get_json()["id"]
    sweep()
    assert len(call_rows(app, alarm_id)) == 2
    for row in call_rows(app, alarm_id):
        phone_line.answer_call(row.sid, "no-answer")
    after = h.alarm(app, alarm_id)
    assert after.next_step_at == after.origin_at + timedelta(seconds=300)
    assert h.escalations(app, alarm_id) == []  # a call-only step: nobody texted


def test_two_senders_place_each_call_once(app, org, as_user, clock, fake_twilio, call_policy) -> None:
    """A sender that dies after placing a call: the next finds it at Twilio instead of calling again."""
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit), seconds=1)
    from safetycheck.engine.sweep import run_sweep
    from safetycheck.escalation import sweep_parts

    with app.app_context():
        from safetycheck.extensions import db
        from safetycheck.visits import jobs as visit_jobs

        visit_jobs.mark_overdue_visits(db.session, clock.now())
        db.session.commit()
        sweep_parts.advance_due_alarms(context.escalation_for(app), clock.now())
        db.session.commit()
        settings = calls.settings_for(app)
        # Sender A claims both calls and places the first, then dies before recording it.
        claimed_a = call_outbox.claim_batch(now=clock.now(), limit=10, stale_after=settings.stale_claim)
        db.session.commit()
        assert len(claimed_a) == 2
        # Sender B, meanwhile, finds nothing to claim.
        assert call_outbox.claim_batch(now=clock.now(), limit=10, stale_after=settings.stale_claim) == []
        db.session.commit()
        first = claimed_a[0]
        result = call_outbox.attempt(
            settings.gateway, first, url=settings.twiml_url(first.id), status_callback=None, ring_seconds=20
        )
        assert result.sid
        assert len(fake_twilio.calls) == 1
        db.session.remove()
    # Past the stale threshold, B reclaims both: the first is looked for and found, not placed.
    clock.set(clock.now() + timedelta(seconds=61))
    report = run_sweep(app)
    assert not report.errors, report.errors
    assert len(fake_twilio.calls) == 2
    rows = call_rows(app, h.only_alarm(app, visit["id"]).id)
    assert {r.sid for r in rows} == {c.sid for c in fake_twilio.calls}
    with app.app_context():
        from safetycheck.extensions import db

        assert (
            call_outbox.record_attempt(first, result, now=clock.now()) is None
        )  # A's late record is refused
        db.session.rollback()


def test_a_sender_held_up_past_its_claim_does_not_place_the_call(
    app, org, as_user, clock, fake_twilio, call_policy
) -> None:
    """A sender held up between restamping and placing (its monotonic clock moved past the budget)
    while another sender reclaimed the call: restamping again fails, and it places nothing."""
    from safetycheck.escalation import sweep_parts
    from safetycheck.escalation.claim_lease import ClaimLease
    from safetycheck.extensions import db
    from safetycheck.visits import jobs as visit_jobs

    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit), seconds=1)
    with app.app_context():
        visit_jobs.mark_overdue_visits(db.session, clock.now())
        db.session.commit()
        sweep_parts.advance_due_alarms(context.escalation_for(app), clock.now())
        db.session.commit()
        settings = calls.settings_for(app)
        [first, *_] = call_outbox.claim_batch(now=clock.now(), limit=10, stale_after=settings.stale_claim)
        db.session.commit()
        monotonic = [0.0]
        lease = ClaimLease(
            first,
            renew=lambda c, now: call_outbox.renew_claim(c, now=now),
            now=clock.now,
            budget=settings.send_budget,
            monotonic=lambda: monotonic[0],
        )
        assert lease.renew()
        assert lease.fresh()  # within the budget: no restamp needed
        # Held up past the stale threshold; another sender reclaims the call meanwhile.
        monotonic[0] += settings.stale_claim.total_seconds() + 1
        clock.set(clock.now() + settings.stale_claim + timedelta(seconds=1))
        taken = call_outbox.claim_batch(now=clock.now(), limit=10, stale_after=settings.stale_claim)
        db.session.commit()
        assert first.id in [c.id for c in taken]
        result = call_outbox.attempt(
            settings.gateway,
            lease.claim,
            url=settings.twiml_url(first.id),
            status_callback=None,
            ring_seconds=20,
            fresh=lease.fresh,
        )
        assert result.lost
        assert fake_twilio.calls == []
        db.session.remove()


def test_a_step_decided_twice_queues_each_call_once(
    app, org, as_user, clock, sweep, fake_twilio, call_policy
) -> None:
    alarm, _rows = overdue(app, org, as_user, clock, sweep)
    with app.app_context():
        from safetycheck.extensions import db

        again = call_outbox.enqueue(
            dedupe_key=f"alarm:{alarm.id}:exec:1:call:{org.manager.id}",
            recipient=db.session.get(type(org.manager), org.manager.id),
            alarm_id=alarm.id,
            step_execution=1,
            script="x",
            now=clock.now(),
        )
        assert again is None
        db.session.rollback()
    assert len(fake_twilio.calls) == 2


def test_a_number_that_cannot_be_called_moves_on(
    app, org, as_user, clock, sweep, fake_twilio, call_policy
) -> None:
    fake_twilio.refuse_call(org.manager.phone)
    fake_twilio.refuse_call(org.on_call.phone)
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit), seconds=1)
    sweep()
    alarm = h.only_alarm(app, visit["id"])
    rows = call_rows(app, alarm.id)
    assert {(r.status, r.outcome) for r in rows} == {(OutboxStatus.UNDELIVERABLE, CallOutcome.FAILED)}
    assert h.alarm(app, alarm.id).next_step_at == clock.now()


def test_a_twilio_outage_retries_the_call(app, org, as_user, clock, sweep, fake_twilio, call_policy) -> None:
    fake_twilio.fail_next_call(2, http_status=500)
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit), seconds=1)
    sweep()
    assert fake_twilio.calls == []
    clock.set(clock.now() + timedelta(seconds=5))
    sweep()
    assert len(fake_twilio.calls) == 2


@pytest.mark.parametrize("path", ["", "/gather", "/status"])
def test_unsigned_or_forged_requests_are_refused(
    app, org, as_user, clock, sweep, client, fake_twilio, call_policy, path
) -> None:
    alarm, rows = overdue(app, org, as_user, clock, sweep)
    row = rows[0]
    url = f"http://safetycheck.test/twilio/voice/{row.id}{path}"
    params = {"CallSid": row.sid, "AccountSid": "AC" + "0" * 32, "CallStatus": "busy", "Digits": "1"}
    forged = sign(url, params, "not-the-token")
    for headers in ({}, {"X-Twilio-Signature": forged}):
        answer = client.client.post(f"/twilio/voice/{row.id}{path}", data=params, headers=headers)
        assert answer.status_code == 403
    assert h.alarm(app, alarm.id).status == AlarmStatus.OPEN
    [same] = [r for r in call_rows(app, alarm.id) if r.id == row.id]
    assert (same.outcome, same.provider_status, same.digits) == (None, row.provider_status, None)


@pytest.mark.parametrize("path", ["", "/gather", "/status"])
def test_a_call_that_is_not_ours_is_404(app, client, clock, fake_twilio, path) -> None:
    url = f"http://safetycheck.test/twilio/voice/999999{path}"
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "busy", "Digits": "1"}
    signature = sign(url, params, app.config["TWILIO_AUTH_TOKEN"])
    answer = client.client.post(
        f"/twilio/voice/999999{path}", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert answer.status_code == 404


def test_calls_are_counted_on_metrics(app, org, as_user, clock, sweep, phone_line, client) -> None:
    _alarm, rows = overdue(app, org, as_user, clock, sweep)
    phone_line.answer_call(rows[0].sid, "answer", press="1")
    text = client.client.get("/metrics").data.decode()
    assert 'safetycheck_calls_total{outcome="acknowledged"} 1.0' in text
    assert "safetycheck_calls_in_progress 1.0" in text


@pytest.fixture
def console_line(
    app: Flask, console_sms: Any, call_policy: policy.Policy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """`./dev run`'s set-up: the console prints calls; the service listens on a real port."""
    import io

    from safetycheck.escalation.voice_gateways import ConsoleVoice

    voice = ConsoleVoice(stream=io.StringIO(), clock=lambda: app.extensions["safetycheck.clock"].now())
    monkeypatch.setitem(app.extensions, "safetycheck.voice", voice)
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", "development-auth-token")
    server = make_server("127.0.0.1", 0, app, threaded=False)
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setitem(app.config, "PUBLIC_URL", base)  # ./dev run signs for the URL it serves
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield voice, base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_console_prints_the_call_and_call_answer_presses_1(
    app, org, as_user, clock, sweep, console_line
) -> None:
    voice, base = console_line
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit), seconds=1)
    sweep()
    alarm = h.only_alarm(app, visit["id"])
    printed = voice._stream.getvalue()  # type: ignore[union-attr]
    assert f"--- CALL to {org.manager.phone} ---" in printed
    assert "Priya Practitioner has not checked out" in printed
    runner = app.test_cli_runner()
    busy = runner.invoke(args=["call-answer", org.on_call.phone, "--outcome", "busy", "--url", base])
    assert busy.exit_code == 0, busy.output
    pressed = runner.invoke(args=["call-answer", org.manager.phone, "1", "--url", base])
    assert pressed.exit_code == 0, pressed.output
    assert "You have taken charge" in pressed.output
    after = h.alarm(app, alarm.id)
    assert (after.status, after.acknowledged_via) == (AlarmStatus.ACKNOWLEDGED, "voice")
    outcomes = {r.recipient_id: r.outcome for r in call_rows(app, alarm.id)}
    assert outcomes == {org.on_call.id: CallOutcome.BUSY, org.manager.id: CallOutcome.ACKNOWLEDGED}
    again = runner.invoke(args=["call-answer", org.manager.phone, "1", "--url", base])
    assert again.exit_code != 0
    assert "no call" in again.output


def test_an_overdue_ladder_may_ring_the_worker_whose_1_is_not_taking_charge(
    app, org, as_user, clock, sweep, phone_line, call_policy
) -> None:
    rules = policy.parse_policy(
        tomllib.loads(CALL_POLICY.replace('call = ["team_managers"] }', 'call = ["practitioner"] }', 1)),
        "test",
    )
    app.extensions["safetycheck.policy"] = rules  # the call_policy fixture puts the previous one back
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    h.move_to(clock, h.due_at(visit), seconds=1)
    sweep()
    alarm = h.only_alarm(app, visit["id"])
    [row] = call_rows(app, alarm.id)
    assert row.recipient_id == org.practitioner.id
    assert row.script.startswith("SafetyCheck. Your visit at 14 Acacia Avenue")
    play = phone_line.answer_call(row.sid, "answer", press="1")
    assert "reply OK by text" in play.said()
    assert h.alarm(app, alarm.id).status == AlarmStatus.OPEN
