"""Bundling: the alarms one person is texted about in the same sweep go as one text.

Default policy: the worker at due, the team's managers at +10 min, managers and on-call at
+20 min repeating. The `org` fixture's manager and on-call person are both managers of the team,
so each is texted about every alarm of the team at +10 min.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck.escalation import board, bundling, context, sweep_parts
from safetycheck.escalation.enums import AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests import factories
from tests.escalation import helpers as h
from tests.escalation.test_sms_commands import inbound, reply_text

CODE = re.compile(r"\bACK ([A-Z0-9]{4})\b")
SINGLE_END = re.compile(r"Reply ACK ([A-Z0-9]+) to take charge$")


def overdue_together(app: Flask, org: factories.Org, clock: Any, count: int) -> tuple[list[int], datetime]:
    """`count` workers of the team check in for 30 minutes at the same moment; their alarm ids
    are known once the sweep at due has raised them. Returns the visit ids and the due time."""
    now = clock.now()
    visits = []
    with app.app_context():
        for n in range(count):
            worker = factories.make_user(now=now, team=org.team, name=f"Worker {n + 1}")
            visit = visit_service.check_in(
                worker, address=f"{n + 1} Burst Street, Leeds", now=now, max_minutes=720, duration_minutes=30
            ).visit
            visits.append(visit.id)
        db.session.commit()
        due = visit.due_at
    return visits, due


def texts_to(sms: Any, phone: str, since: int = 0) -> list[str]:
    return [m.body for m in sms.sent[since:] if m.to == phone]


def alarm_ids(app: Flask, visit_ids: list[int]) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(sa.select(Alarm.id).where(Alarm.visit_id.in_(visit_ids)).order_by(Alarm.id))
        )


def codes_of(app: Flask, ids: list[int]) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(Alarm.id, Alarm.code).where(Alarm.id.in_(ids))).all())


@pytest.fixture
def text(client: Any, app: Any) -> Any:
    def send(from_phone: str, body: str) -> str:
        return reply_text(inbound(client, app, from_phone=from_phone, body=body))

    return send


def test_fifty_overdue_alarms_reach_each_manager_as_five_texts_with_fifty_codes(
    app, clock, org, console_sms, sweep
) -> None:
    visits, due = overdue_together(app, org, clock, 50)
    h.move_to(clock, due)
    sweep()  # each worker is texted (never bundled: their own visit, no ACK code)
    assert len(console_sms.sent) == 50
    h.move_to(clock, due, minutes=10)
    before = len(console_sms.sent)
    sweep()
    ids = alarm_ids(app, visits)
    codes = codes_of(app, ids)
    for manager in (org.manager, org.on_call):
        bodies = texts_to(console_sms, manager.phone, before)
        assert len(bodies) == 5
        listed = [code for body in bodies for code in CODE.findall(body)]
        assert sorted(listed) == sorted(codes.values())  # 50 distinct codes, each once
        for body in bodies:
            assert body.startswith("SAFETYCHECK: 10 alerts need someone to take charge.")
            assert len(body) <= bundling.MAX_BODY
            assert body.count("Burst Street, Leeds, due") == 10
    with app.app_context():
        for alarm_id in ids:
            alarm = db.session.get(Alarm, alarm_id)
            assert alarm is not None
            # Each alarm still has its own step: timeline, who was notified, the text's status.
            [step] = h.timeline(app, "alarm", alarm_id, "escalated")[1:]
            assert {org.manager.id, org.on_call.id} <= set(step.details["notified"])
            texted = {t.user_id: t for t in board.texted(alarm)}
            assert texted[org.manager.id].status == OutboxStatus.SENT
            assert texted[org.on_call.id].status == OutboxStatus.SENT
            assert h.recipients(app, alarm_id) >= {org.manager.id, org.on_call.id}
        links = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxAlarm)
            .where(OutboxAlarm.recipient_id == org.manager.id)
        )
        assert links == 50


def test_a_single_alarm_still_gets_exactly_todays_text(app, clock, org, console_sms, sweep) -> None:
    visits, due = overdue_together(app, org, clock, 1)
    h.move_to(clock, due)
    sweep()
    h.move_to(clock, due, minutes=10)
    before = len(console_sms.sent)
    sweep()
    [body] = texts_to(console_sms, org.manager.phone, before)
    [alarm_id] = alarm_ids(app, visits)
    assert body.startswith("SAFETYCHECK OVERDUE: Worker 1")
    match = SINGLE_END.search(body)
    assert match is not None
    assert match[1] == codes_of(app, [alarm_id])[alarm_id]
    [row] = h.outbox(app, recipient_id=org.manager.id, purpose=MessagePurpose.ESCALATION)
    assert row.dedupe_key == f"alarm:{alarm_id}:exec:2:user:{org.manager.id}"


def test_bare_ack_after_a_bundle_takes_none_and_ack_code_takes_one_while_the_rest_climb(
    app, clock, org, console_sms, sweep, text
) -> None:
    visits, due = overdue_together(app, org, clock, 3)
    h.move_to(clock, due)
    sweep()
    h.move_to(clock, due, minutes=10)
    sweep()
    ids = alarm_ids(app, visits)
    codes = codes_of(app, ids)

    reply = text(org.manager.phone, "ACK")
    assert "listed 3 alerts" in reply
    assert "took charge of none" in reply
    assert sorted(CODE.findall(reply)) == sorted(codes.values())
    assert {h.alarm(app, i).status for i in ids} == {AlarmStatus.OPEN}

    first, *others = ids
    assert "you have taken charge" in text(org.manager.phone, f"ACK {codes[first]}")
    assert h.alarm(app, first).status == AlarmStatus.ACKNOWLEDGED
    assert {h.alarm(app, i).status for i in others} == {AlarmStatus.OPEN}
    # Still ambiguous: the last text listed three; ACK alone names the two still open.
    again = text(org.manager.phone, "ACK")
    assert sorted(CODE.findall(again)) == sorted(codes[i] for i in others)

    h.move_to(clock, due, minutes=20)
    before = len(console_sms.sent)
    sweep()  # the other two climb to managers and on-call: one text each, carrying both
    for manager in (org.manager, org.on_call):
        [body] = [b for b in texts_to(console_sms, manager.phone, before) if b.startswith("SAFETYCHECK:")]
        assert sorted(CODE.findall(body)) == sorted(codes[i] for i in others)
    assert {h.alarm(app, i).executed_steps for i in others} == {3}
    assert h.alarm(app, first).executed_steps == 2


def test_bare_ack_after_a_single_alarm_text_keeps_working(app, clock, org, console_sms, sweep, text) -> None:
    visits, due = overdue_together(app, org, clock, 1)
    h.move_to(clock, due, minutes=10)
    sweep()
    [alarm_id] = alarm_ids(app, visits)
    assert "you have taken charge" in text(org.manager.phone, "ACK")
    assert h.alarm(app, alarm_id).status == AlarmStatus.ACKNOWLEDGED


def test_a_bundle_is_cancelled_only_when_none_of_its_alarms_is_open(app, clock, org, sweep) -> None:
    visits, due = overdue_together(app, org, clock, 2)
    h.move_to(clock, due)
    sweep()
    h.move_to(clock, due, minutes=10)
    with app.app_context():  # decide the managers' step, but send nothing yet
        sweep_parts.advance_due_alarms(context.escalation_for(app), clock.now())
        db.session.commit()
    ids = alarm_ids(app, visits)
    [bundle] = h.outbox(app, recipient_id=org.manager.id, purpose=MessagePurpose.ESCALATION)
    assert bundle.status == OutboxStatus.PENDING
    from safetycheck.escalation import alarms as alarm_service

    with app.app_context():
        manager = db.session.get(type(org.manager), org.manager.id)
        alarm_service.acknowledge(db.session.get(Alarm, ids[0]), actor=manager, now=clock.now(), via="web")
        db.session.commit()
    assert h.only_row(app, id=bundle.id).status == OutboxStatus.PENDING  # still carries the other
    with app.app_context():
        manager = db.session.get(type(org.manager), org.manager.id)
        alarm_service.acknowledge(db.session.get(Alarm, ids[1]), actor=manager, now=clock.now(), via="web")
        db.session.commit()
    assert h.only_row(app, id=bundle.id).status == OutboxStatus.CANCELLED


def test_a_longer_list_splits_at_the_configured_size(app, clock, org, console_sms, sweep) -> None:
    app.config["ESCALATION_BUNDLE_MAX_ALARMS"] = 3
    try:
        _visits, due = overdue_together(app, org, clock, 7)
        h.move_to(clock, due)
        sweep()
        h.move_to(clock, due, minutes=10)
        before = len(console_sms.sent)
        sweep()
    finally:
        app.config["ESCALATION_BUNDLE_MAX_ALARMS"] = 10
    bodies = texts_to(console_sms, org.manager.phone, before)
    assert [len(CODE.findall(b)) for b in bodies] == [3, 3, 1]
    assert SINGLE_END.search(bodies[2])  # the one left over is an ordinary text


def test_delivery_status_of_a_bundle_lands_on_every_alarm_it_carried(
    app, clock, org, fake_twilio, sweep
) -> None:
    visits, due = overdue_together(app, org, clock, 3)
    h.move_to(clock, due)
    sweep()
    h.move_to(clock, due, minutes=10)
    sweep()
    ids = alarm_ids(app, visits)
    [bundle] = h.outbox(app, recipient_id=org.manager.id, purpose=MessagePurpose.ESCALATION)
    h.deliver_status(app, fake_twilio, bundle.sid, "delivered")
    with app.app_context():
        for alarm_id in ids:
            alarm = db.session.get(Alarm, alarm_id)
            texted = {t.user_id: t.status for t in board.texted(alarm)}
            assert texted[org.manager.id] == OutboxStatus.DELIVERED
    # The on-call manager's number turns out dead: every alarm it carried is handled as a dead
    # contact (the manager's text still went, so none climbs early: Morgan can act on all three).
    [other] = h.outbox(app, recipient_id=org.on_call.id, purpose=MessagePurpose.ESCALATION)
    h.deliver_status(app, fake_twilio, other.sid, "undelivered", 30005)
    with app.app_context():
        for alarm_id in ids:
            alarm = db.session.get(Alarm, alarm_id)
            texted = {t.user_id: t.status for t in board.texted(alarm)}
            assert texted[org.on_call.id] == OutboxStatus.UNDELIVERABLE
            assert alarm.next_step_at == due + timedelta(minutes=20)


def test_every_alarm_climbs_at_once_when_a_bundles_only_recipient_is_dead(
    app, clock, org, fake_twilio, sweep
) -> None:
    with app.app_context():  # one manager in charge of the team
        on_call = db.session.get(type(org.on_call), org.on_call.id)
        on_call.team_id = org.other_team.id
        db.session.commit()
    visits, due = overdue_together(app, org, clock, 3)
    h.move_to(clock, due)
    sweep()
    h.move_to(clock, due, minutes=10)
    sweep()
    [bundle] = h.outbox(app, recipient_id=org.manager.id, purpose=MessagePurpose.ESCALATION)
    h.deliver_status(app, fake_twilio, bundle.sid, "undelivered", 30005)
    for alarm_id in alarm_ids(app, visits):
        assert h.alarm(app, alarm_id).next_step_at == clock.now()


def test_the_link_rows_cannot_be_rewritten(app, clock, org, console_sms, sweep) -> None:
    _visits, due = overdue_together(app, org, clock, 2)
    h.move_to(clock, due, minutes=10)
    sweep()
    with app.app_context():
        link = db.session.scalars(sa.select(OutboxAlarm)).first()
        assert link is not None
        for statement in (
            sa.update(OutboxAlarm).where(OutboxAlarm.id == link.id).values(position=7),
            sa.delete(OutboxAlarm).where(OutboxAlarm.id == link.id),
        ):
            with pytest.raises(sa.exc.DatabaseError), db.session.begin_nested():
                db.session.execute(statement)
        assert db.session.get(OutboxMessage, link.message_id) is not None


def test_managers_texted_when_visits_go_overdue_get_one_text_per_sweep_batch(
    app, clock, org, console_sms, sweep, tmp_path
) -> None:
    from safetycheck.escalation.policy import load_policy
    from tests.escalation.harness import MANAGERS_AT_DUE_POLICY, write_policy

    previous = app.extensions["safetycheck.policy"]
    app.extensions["safetycheck.policy"] = load_policy(write_policy(tmp_path, MANAGERS_AT_DUE_POLICY))
    try:
        visits, due = overdue_together(app, org, clock, 20)
        h.move_to(clock, due, seconds=1)
        sweep()  # visits.mark_overdue raises the alarms and takes their first step, one per visit
    finally:
        app.extensions["safetycheck.policy"] = previous
    codes = codes_of(app, alarm_ids(app, visits))
    for manager in (org.manager, org.on_call):
        bodies = texts_to(console_sms, manager.phone)
        assert len(bodies) == 2
        assert sorted(c for b in bodies for c in CODE.findall(b)) == sorted(codes.values())
    assert len(console_sms.sent) == 20 + 2 * 2  # each worker alone, never bundled
