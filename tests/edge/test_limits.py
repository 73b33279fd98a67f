"""Abuse limits: sign-in per address and per account, tokens, webhooks, incident reports, and a
panic that is never refused (past its limit the texts are limited, not the alarm)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app, limits
from safetycheck.accounts import signin
from safetycheck.accounts.models import SigninThrottle
from safetycheck.clock import FrozenClock
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.timeline.models import TimelineEntry
from tests.assertions import assert_error, session
from tests.conftest import START
from tests.escalation.test_sms_commands import inbound
from tests.factories import PASSWORD

TOKENS = "/api/v1/auth/tokens"


@pytest.fixture
def set_limit(app: Flask) -> Iterator[Callable[[str, str], None]]:
    """`set_limit(name, "2 per minute")` for this test only."""
    table = app.extensions["safetycheck.limits"]
    saved = dict(table)

    def change(name: str, value: str) -> None:
        table[name] = limits.parse_limit(name, value)

    yield change
    table.clear()
    table.update(saved)


def sign_in(client: Any, email: str, password: str = PASSWORD, address: str = "192.0.2.1") -> Any:
    body = {"email": email, "password": password, "device": "phone"}
    return client.client.post(TOKENS, json=body, environ_base={"REMOTE_ADDR": address})


def assert_too_many(response: Any) -> dict[str, Any]:
    body = assert_error(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    return body


def test_sign_in_is_limited_per_account_even_with_the_right_password(client, org, set_limit) -> None:
    set_limit("RATELIMIT_SIGNIN_PER_ACCOUNT", "3 per minute")
    for _ in range(3):
        assert sign_in(client, org.practitioner.email).status_code == 201
    assert_too_many(sign_in(client, org.practitioner.email.upper(), address="192.0.2.77"))
    assert sign_in(client, org.colleague.email).status_code == 201  # another account is not held up


def test_sign_in_is_limited_per_address(client, org, set_limit) -> None:
    set_limit("RATELIMIT_SIGNIN_PER_ADDRESS", "2 per minute")
    assert sign_in(client, org.practitioner.email).status_code == 201
    assert sign_in(client, "nobody@example.test", "wrong-password").status_code == 422
    assert_too_many(sign_in(client, org.colleague.email))
    assert sign_in(client, org.colleague.email, address="192.0.2.2").status_code == 201


def test_tokens_are_limited_per_person(client, org, set_limit) -> None:
    set_limit("RATELIMIT_TOKENS_PER_ACCOUNT", "2 per hour")
    for address in ("192.0.2.1", "192.0.2.2"):
        assert sign_in(client, org.manager.email, address=address).status_code == 201
    body = assert_too_many(sign_in(client, org.manager.email, address="192.0.2.3"))
    assert "devices" in body["message"]


def test_the_sign_in_page_answers_429_with_the_form_and_retry_after(web, org, set_limit) -> None:
    set_limit("RATELIMIT_SIGNIN_PER_ADDRESS", "1 per minute")
    form = {"email": org.manager.email, "password": "wrong-password"}
    assert web.post("/login", data=form).status_code == 422
    page = web.post("/login", data=form | {"password": PASSWORD})
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    assert int(page.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts" in page.get_data(as_text=True)


def test_the_lock_after_wrong_passwords_stays_and_an_admin_unlocks_it_through_the_api(
    client, as_user, org
) -> None:
    for _ in range(5):
        sign_in(client, org.colleague.email, "wrong-password")
    assert_too_many(sign_in(client, org.colleague.email))
    assert_error(as_user(org.manager).post(f"/api/v1/users/{org.colleague.id}/unlock"), 403)
    assert_error(as_user(org.admin).post("/api/v1/users/999999/unlock"), 404)
    admin = as_user(org.admin)
    assert admin.post(f"/api/v1/users/{org.colleague.id}/unlock").get_json() == {"unlocked": True}
    assert sign_in(client, org.colleague.email).status_code == 201
    assert admin.post(f"/api/v1/users/{org.colleague.id}/unlock").get_json() == {"unlocked": False}


def test_inbound_texts_are_limited_per_sender_after_the_signature(client, app, org, set_limit) -> None:
    set_limit("RATELIMIT_WEBHOOK_PER_SENDER", "2 per minute")
    for _ in range(2):
        assert inbound(client, app, from_phone=org.practitioner.phone, body="HELLO").status_code == 200
    assert_too_many(inbound(client, app, from_phone=org.practitioner.phone, body="HELLO"))
    assert inbound(client, app, from_phone=org.manager.phone, body="HELLO").status_code == 200
    # Forged requests (bad signature) never count against a real person's allowance.
    set_limit("RATELIMIT_WEBHOOK_PER_SENDER", "1 per minute")
    forged = {"MessageSid": "SM1", "From": org.colleague.phone, "Body": "OK"}
    for _ in range(3):
        response = client.client.post("/twilio/sms", data=forged, headers={"X-Twilio-Signature": "x"})
        assert response.status_code == 403
    assert inbound(client, app, from_phone=org.colleague.phone, body="HELLO").status_code == 200


def test_a_webhook_flood_from_one_address_is_refused_before_the_signature_is_checked(
    client, set_limit
) -> None:
    set_limit("RATELIMIT_WEBHOOK_PER_ADDRESS", "2 per minute")
    for _ in range(2):
        assert client.client.post("/twilio/status", data={}).status_code == 403
    assert_too_many(client.client.post("/twilio/status", data={}))


def test_incident_reports_are_limited_per_person(as_user, org, clock, set_limit) -> None:
    set_limit("RATELIMIT_INCIDENTS_PER_USER", "2 per hour")
    report = {
        "occurred_at": clock.now().isoformat(),
        "category": "verbal_abuse",
        "description": "Shouted at on the doorstep.",
        "near_miss": False,
    }
    worker = as_user(org.practitioner)
    assert worker.post("/api/v1/incidents", json=report).status_code == 201
    assert worker.post("/api/v1/incidents/near-miss", json={"kind": "did_not_enter"}).status_code == 201
    assert_too_many(worker.post("/api/v1/incidents", json=report))
    assert as_user(org.colleague).post("/api/v1/incidents", json=report).status_code == 201


def test_a_panic_past_its_limit_is_never_refused_it_limits_the_texts_not_the_alarm(
    app, as_user, org, clock, set_limit
) -> None:
    set_limit("RATELIMIT_PANIC_LADDERS_PER_USER", "1 per hour")
    worker, boss = as_user(org.practitioner), as_user(org.manager)
    first = worker.post("/api/v1/alarms", json={"kind": "panic"})
    assert first.status_code == 201
    first_id = first.get_json()["id"]
    assert boss.post(f"/api/v1/alarms/{first_id}/acknowledge").status_code == 200

    # Over the limit: still 201, recorded on the alarm someone already has in hand; no new ladder.
    again = worker.post("/api/v1/alarms", json={"kind": "panic", "message": "worse now"})
    assert again.status_code == 201
    assert again.get_json()["id"] == first_id
    with session(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Alarm)) == 1
        assert s.get(Alarm, first_id).message == "worse now"
        pressed = s.scalars(
            sa.select(TimelineEntry).where(
                TimelineEntry.subject_type == "alarm", TimelineEntry.event == "pressed_again"
            )
        ).all()
        assert [e.details.get("over_limit") for e in pressed] == [True]

    # With nothing unresolved to join, a press raises a new alarm whatever the limit says.
    assert boss.post(f"/api/v1/alarms/{first_id}/resolve", json={"outcome": "false_alarm"}).status_code == 200
    fresh = worker.post("/api/v1/alarms", json={"kind": "panic"})
    assert fresh.status_code == 201
    assert fresh.get_json()["id"] != first_id
    assert fresh.get_json()["status"] == "open"


def test_limits_switched_off_never_answer_429(app, client, org, set_limit) -> None:
    set_limit("RATELIMIT_SIGNIN_PER_ADDRESS", "1 per minute")
    app.config["RATELIMIT_ENABLED"] = False
    try:
        for _ in range(3):
            assert sign_in(client, org.manager.email).status_code == 201
    finally:
        app.config["RATELIMIT_ENABLED"] = True


def forget_failures(app: Flask, email: str) -> None:
    """Remove what an app of a test's own committed to the shared test database."""
    with app.app_context():
        digest = signin.email_digest(email)
        db.session.execute(sa.delete(SigninThrottle).where(SigninThrottle.email_digest == digest))
        db.session.commit()


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_two_instances_share_limits_through_redis(base_config, org) -> None:
    prefix = "safetycheck-test-" + secrets.token_hex(4)  # Redis is shared: keys of our own
    config = base_config | {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "RATELIMIT_KEY_PREFIX": prefix,
        "RATELIMIT_SIGNIN_PER_ADDRESS": "3 per minute",
    }
    one, two = (create_app(config, clock=FrozenClock(START)) for _ in range(2))
    assert one.extensions["safetycheck.limiter"].storage is not two.extensions["safetycheck.limiter"].storage
    # These apps commit for real: an address of this test's own, its failures removed after.
    email = f"nobody-{prefix}@example.test"
    body = {"email": email, "password": "wrong-password", "device": "x"}
    answers = [
        app.test_client().post(TOKENS, json=body, environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code
        for app in (one, two, one, two)
    ]
    assert answers == [422, 422, 422, 429]
    forget_failures(one, email)
    for app in (one, two):
        with app.app_context():
            db.engine.dispose()


def test_help_by_text_past_the_limit_still_reaches_an_alarm_without_a_fresh_ladder(
    app, client, as_user, org, set_limit
) -> None:
    set_limit("RATELIMIT_PANIC_LADDERS_PER_USER", "1 per hour")
    assert "panic alarm raised" in inbound(
        client, app, from_phone=org.practitioner.phone, body="HELP"
    ).get_data(as_text=True)
    with session(app) as s:
        first_id = s.scalar(sa.select(Alarm.id))
    assert as_user(org.manager).post(f"/api/v1/alarms/{first_id}/acknowledge").status_code == 200
    again = inbound(client, app, from_phone=org.practitioner.phone, body="SOS")
    assert "panic alarm raised" in again.get_data(as_text=True)
    with session(app) as s:
        assert s.scalars(sa.select(Alarm.id)).all() == [first_id]


def test_with_redis_down_limits_let_requests_through_and_a_panic_is_never_lost(
    app, base_config, as_user, org, monkeypatch
) -> None:
    config = base_config | {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "RATELIMIT_SIGNIN_PER_ADDRESS": "1 per minute",
    }
    down = create_app(config, clock=FrozenClock(START))
    client = down.test_client()
    email = f"nobody-{secrets.token_hex(4)}@example.test"
    body = {"email": email, "password": "wrong-password", "device": "x"}
    before = limits.LIMIT_STORAGE_ERRORS._value.get()
    assert [client.post(TOKENS, json=body).status_code for _ in range(2)] == [422, 422]
    assert limits.LIMIT_STORAGE_ERRORS._value.get() == before + 4  # two limits, twice
    assert "safetycheck_ratelimit_storage_errors_total" in client.get("/metrics").get_data(as_text=True)
    forget_failures(down, email)
    with down.app_context():
        db.engine.dispose()

    monkeypatch.setitem(app.extensions, "safetycheck.limiter", down.extensions["safetycheck.limiter"])
    worker = as_user(org.practitioner)
    assert worker.post("/api/v1/alarms", json={"kind": "panic"}).status_code == 201
