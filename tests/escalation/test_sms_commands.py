"""Inbound SMS: signed webhooks, the commands, idempotency and the auto-responder cap."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.escalation.commands import parse
from safetycheck.escalation.models import Alarm, InboundSms, OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits.models import Visit
from tests.fake_twilio import sign

SMS_URL = "http://safetycheck.test/twilio/sms"
ACCOUNT = "AC" + "0" * 32


def inbound(client: Any, app: Any, *, from_phone: str, body: str, sid: str | None = None) -> Any:
    """POST a text to the webhook, signed as Twilio would sign it."""
    params = {
        "MessageSid": sid or "SM" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": from_phone,
        "To": "+447700900999",
        "Body": body,
    }
    signature = sign(SMS_URL, params, app.config["TWILIO_AUTH_TOKEN"])
    return client.client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})


def reply_text(response: Any) -> str:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return response.data.decode()


@pytest.fixture
def text(client: Any, app: Any) -> Any:
    """`text(phone, "OK")` sends a signed text and returns the TwiML reply."""

    def send(from_phone: str, body: str, sid: str | None = None) -> str:
        return reply_text(inbound(client, app, from_phone=from_phone, body=body, sid=sid))

    return send


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ACK K7Q2", ("ack", "K7Q2", None)),
        ("  ack k7q2 ", ("ack", "K7Q2", None)),
        ("Ack", ("ack", None, None)),
        ("OK", ("ok", None, None)),
        ("ok.", ("ok", None, None)),
        ("EXT 30", ("ext", None, 30)),
        ("ext30", ("ext", None, 30)),
        ("EXT", ("ext", None, None)),
        ("HELP", ("help", None, None)),
        ("sos!", ("help", None, None)),
        ("hello there", ("unknown", None, None)),
        ("OK thanks", ("unknown", None, None)),
        ("", ("unknown", None, None)),
    ],
)
def test_parse(body: str, expected: tuple[Any, ...]) -> None:
    command = parse(body)
    assert (command.name, command.code, command.minutes) == expected


def start_visit(as_user: Any, practitioner: Any, minutes: int = 30) -> int:
    response = as_user(practitioner).post(
        "/api/v1/visits", json={"address": "12 High St, Leeds LS1 4AP", "duration_minutes": minutes}
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def overdue_alarm(app: Any, as_user: Any, org: Any, clock: Any, sweep: Any) -> Alarm:
    start_visit(as_user, org.practitioner, minutes=30)
    clock.advance(minutes=41)  # due at +30, managers texted at +40
    sweep()
    with app.app_context():
        alarm = db.session.scalars(sa.select(Alarm)).one()
        db.session.expunge(alarm)
    return alarm


def test_unsigned_forged_and_wrong_url_requests_are_refused_and_change_nothing(
    client: Any, app: Any, org: Any, as_user: Any
) -> None:
    visit_id = start_visit(as_user, org.practitioner)
    params = {"MessageSid": "SM1", "From": org.practitioner.phone, "Body": "OK", "AccountSid": ACCOUNT}
    unsigned = client.client.post("/twilio/sms", data=params)
    forged = client.client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
    wrong_key = client.client.post(
        "/twilio/sms", data=params, headers={"X-Twilio-Signature": sign(SMS_URL, params, "not-our-token")}
    )
    token = app.config["TWILIO_AUTH_TOKEN"]
    wrong_url = client.client.post(
        "/twilio/sms",
        data=params,
        headers={"X-Twilio-Signature": sign("http://evil.test/twilio/sms", params, token)},
    )
    tampered_params = dict(params, Body="HELP")
    tampered = client.client.post(
        "/twilio/sms",
        data=tampered_params,
        headers={"X-Twilio-Signature": sign(SMS_URL, params, app.config["TWILIO_AUTH_TOKEN"])},
    )
    for response in (unsigned, forged, wrong_key, wrong_url, tampered):
        assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Visit, visit_id).status == "active"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundSms)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Alarm)) == 0


def test_status_callback_must_be_signed(client: Any) -> None:
    response = client.client.post("/twilio/status", data={"MessageSid": "SMx", "MessageStatus": "delivered"})
    assert response.status_code == 403


def test_ok_checks_out_and_a_replayed_message_changes_nothing(
    client: Any, app: Any, org: Any, as_user: Any
) -> None:
    visit_id = start_visit(as_user, org.practitioner)
    first = inbound(client, app, from_phone=org.practitioner.phone, body="OK", sid="SMreplay")
    assert "checked out of 12 High St" in reply_text(first)
    again = inbound(client, app, from_phone=org.practitioner.phone, body="OK", sid="SMreplay")
    assert reply_text(again) == reply_text(first)
    with app.app_context():
        assert db.session.get(Visit, visit_id).status == "completed"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundSms)) == 1


def test_ok_with_the_duress_pin_replies_like_a_normal_ok_and_raises_duress(
    text: Any, client: Any, app: Any, org: Any, as_user: Any
) -> None:
    start_visit(as_user, org.practitioner)
    duress = text(org.practitioner.phone, "OK 9911")
    start_visit(as_user, org.colleague)
    normal = text(org.colleague.phone, "OK")
    assert duress == normal
    with app.app_context():
        kinds = db.session.scalars(sa.select(Alarm.kind)).all()
    assert [str(k) for k in kinds] == ["duress"]


def test_ext_extends_the_visit_and_rejects_bad_minutes(
    text: Any, app: Any, org: Any, as_user: Any, clock: Any
) -> None:
    visit_id = start_visit(as_user, org.practitioner, minutes=30)
    reply = text(org.practitioner.phone, "EXT 20")
    assert "extended, now due at 09:50 GMT" in reply
    refused = text(org.practitioner.phone, "EXT 999")
    assert "reply EXT and the minutes (1 to 240)" in refused
    with app.app_context():
        visit = db.session.get(Visit, visit_id)
        assert visit.due_at == clock.now().replace(minute=50)


def test_ok_and_ext_without_a_visit(text: Any, client: Any, app: Any, org: Any) -> None:
    assert "no visit in progress" in text(org.practitioner.phone, "OK")
    assert "no visit in progress" in text(org.practitioner.phone, "EXT 5")


def test_help_raises_a_panic_alarm_that_texts_managers_not_the_worker(
    text: Any, client: Any, app: Any, org: Any, as_user: Any, sweep: Any, console_sms: Any
) -> None:
    start_visit(as_user, org.practitioner)
    assert "panic alarm raised" in text(org.practitioner.phone, "SOS")
    sweep()
    recipients = {m.to for m in console_sms.sent}
    assert recipients == {org.manager.phone, org.on_call.phone}
    assert all("PANIC" in m.body and "12 High St" in m.body for m in console_sms.sent)


def test_ack_with_code_takes_charge_and_stops_the_ladder(
    text: Any, client: Any, app: Any, org: Any, as_user: Any, clock: Any, sweep: Any, console_sms: Any
) -> None:
    alarm = overdue_alarm(app, as_user, org, clock, sweep)
    reply = text(org.manager.phone, f"ack {alarm.code.lower()}")
    assert f"you have taken charge of alert {alarm.code} for {org.practitioner.name}" in reply
    assert org.practitioner.phone in reply
    sent_before = len(console_sms.sent)
    clock.advance(minutes=30)
    sweep()
    new = console_sms.sent[sent_before:]
    # Only the notice to the on-call manager that someone took charge; no more escalation.
    assert [(m.to, "has taken charge" in m.body) for m in new] == [(org.on_call.phone, True)]
    with app.app_context():
        stored = db.session.get(Alarm, alarm.id)
        assert stored.status == "acknowledged"
        assert (stored.acknowledged_by, stored.acknowledged_via) == (org.manager.id, "sms")


def test_second_ack_is_told_who_took_charge(
    text: Any, client: Any, app: Any, org: Any, as_user: Any, clock: Any, sweep: Any
) -> None:
    alarm = overdue_alarm(app, as_user, org, clock, sweep)
    text(org.manager.phone, f"ACK {alarm.code}")
    late = text(org.on_call.phone, f"ACK {alarm.code}")
    assert f"{org.manager.name} took charge of alert {alarm.code} at" in late


def test_ack_alone_works_with_exactly_one_open_alarm(
    text: Any, client: Any, app: Any, org: Any, as_user: Any, clock: Any, sweep: Any
) -> None:
    assert "no open alert" in text(org.manager.phone, "ACK")
    alarm = overdue_alarm(app, as_user, org, clock, sweep)
    as_user(org.colleague).post("/api/v1/alarms", json={"kind": "panic"})
    ambiguous = text(org.manager.phone, "ACK")
    assert "several alerts are open" in ambiguous
    assert f"ACK {alarm.code}" in ambiguous


def test_ack_of_an_unknown_or_foreign_code_changes_nothing(
    text: Any, client: Any, app: Any, org: Any, as_user: Any, clock: Any, sweep: Any
) -> None:
    alarm = overdue_alarm(app, as_user, org, clock, sweep)
    assert "no alert ZZZZ for you" in text(org.manager.phone, "ACK ZZZZ")
    foreign = text(org.other_manager.phone, f"ACK {alarm.code}")
    assert f"no alert {alarm.code} for you" in foreign
    with app.app_context():
        assert db.session.get(Alarm, alarm.id).status == "open"


def test_unknown_text_gets_help_but_replies_are_capped(text: Any, client: Any, app: Any, org: Any) -> None:
    replies = [text(org.practitioner.phone, "Auto-reply: I am away") for _ in range(5)]
    assert all("<Message>" in r and "reply OK to check out" in r for r in replies[:3])
    assert all("<Message>" not in r for r in replies[3:])
    stranger = [text("+447700900777", "hi") for _ in range(4)]
    assert "not registered" in stranger[0]
    assert "<Message>" not in stranger[3]


def test_delivery_status_callback_marks_delivered(
    client: Any, app: Any, org: Any, as_user: Any, clock: Any, sweep: Any, fake_twilio: Any
) -> None:
    start_visit(as_user, org.practitioner, minutes=10)
    clock.advance(minutes=11)
    sweep()
    message = fake_twilio.messages[0]
    callback = fake_twilio.prepare_status_callback(message.sid, "delivered")
    path = callback.url.removeprefix("http://safetycheck.test")
    headers = {"X-Twilio-Signature": callback.signature}
    response = client.client.post(path, data=callback.params, headers=headers)
    assert response.status_code == 200
    with app.app_context():
        row = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.sid == message.sid))
        assert (row.status, row.provider_status) == ("delivered", "delivered")
