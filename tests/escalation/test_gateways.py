"""The SMS gateways, driving the real twilio SDK against a local fake Twilio."""

from __future__ import annotations

import io
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from safetycheck.escalation.gateways import (
    ConsoleSms,
    SentSms,
    SmsOutcomeUnknown,
    SmsRetryable,
    SmsUndeliverable,
    TwilioBaseUrlHttpClient,
    TwilioSms,
    build_gateway,
    classify_delivery_status,
)
from tests.fake_twilio import FakeTwilio, sign

FROM = "+447700900001"
TO = "+447700900123"
CALLBACK = "https://safetycheck.example/twilio/status"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def make_sms(fake: FakeTwilio, *, timeout: float = 5.0, token: str | None = None) -> TwilioSms:
    return TwilioSms(
        account_sid=fake.account_sid,
        auth_token=token or fake.auth_token,
        from_number=FROM,
        base_url=fake.base_url,
        timeout=timeout,
    )


@pytest.fixture
def sms(fake_twilio: FakeTwilio) -> Iterator[TwilioSms]:
    with make_sms(fake_twilio) as gateway:
        yield gateway


def test_send_reaches_twilio_with_to_from_body_and_callback(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    sent = sms.send(to=TO, body="Alex is overdue. Reply ACK K7 to take charge", status_callback=CALLBACK)

    [message] = fake_twilio.wait_for_messages(1)
    assert sent == SentSms(sid=message.sid, status="queued")
    assert sent.sid.startswith("SM")
    assert len(sent.sid) == 34
    assert (message.to, message.from_) == (TO, FROM)
    assert message.body == "Alex is overdue. Reply ACK K7 to take charge"
    assert message.status_callback == CALLBACK


def test_send_without_callback_sends_no_status_callback(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    sms.send(to=TO, body="hello")

    assert fake_twilio.wait_for_messages(1)[0].status_callback is None
    assert "StatusCallback" not in fake_twilio.requests[0].params


def test_wrong_auth_token_is_retryable_and_sends_nothing(fake_twilio: FakeTwilio) -> None:
    with make_sms(fake_twilio, token="wrong") as sms, pytest.raises(SmsRetryable) as caught:
        sms.send(to=TO, body="hello")

    assert (caught.value.http_status, caught.value.code) == (401, 20003)
    assert fake_twilio.messages == []


@pytest.mark.parametrize("code", [21211, 21610, 21614, 21612, 21408])
def test_refused_number_is_undeliverable(fake_twilio: FakeTwilio, sms: TwilioSms, code: int) -> None:
    fake_twilio.refuse_number(TO, code)

    with pytest.raises(SmsUndeliverable) as caught:
        sms.send(to=TO, body="hello")

    assert (caught.value.code, caught.value.http_status) == (code, 400)
    assert str(code) in str(caught.value)
    assert fake_twilio.messages == []
    sms.send(to="+447700900999", body="other numbers still work")
    assert [m.to for m in fake_twilio.messages] == ["+447700900999"]


def test_server_error_is_retryable_once_then_send_succeeds(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    fake_twilio.fail_next(1, http_status=500)

    with pytest.raises(SmsRetryable) as caught:
        sms.send(to=TO, body="first try")
    assert caught.value.http_status == 500
    assert caught.value.code is None
    assert caught.value.retry_after is None
    assert fake_twilio.messages == []

    sms.send(to=TO, body="second try")
    assert [m.body for m in fake_twilio.messages] == ["second try"]


@pytest.mark.parametrize(("retry_after", "expected"), [(7, 7.0), (None, None)])
def test_rate_limit_is_retryable_with_retry_after(
    fake_twilio: FakeTwilio, sms: TwilioSms, retry_after: int | None, expected: float | None
) -> None:
    fake_twilio.fail_next(1, 429, 20429, "Too Many Requests", retry_after=retry_after)

    with pytest.raises(SmsRetryable) as caught:
        sms.send(to=TO, body="hello")

    assert (caught.value.http_status, caught.value.code) == (429, 20429)
    assert caught.value.retry_after == expected


def test_unknown_client_error_is_retryable_and_logged(
    fake_twilio: FakeTwilio, sms: TwilioSms, caplog: pytest.LogCaptureFixture
) -> None:
    fake_twilio.fail_next(1, 400, 21617, "The concatenated message body exceeds 1600 characters")

    with caplog.at_level(logging.WARNING), pytest.raises(SmsRetryable) as caught:
        sms.send(to=TO, body="hello")

    assert caught.value.code == 21617
    assert "21617" in caplog.text


def test_gateway_timeout_answer_is_outcome_unknown(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    fake_twilio.fail_next(1, 504, None, "Gateway Timeout")

    with pytest.raises(SmsOutcomeUnknown):
        sms.send(to=TO, body="hello")


def test_hang_after_accepting_is_outcome_unknown_and_find_sent_finds_it(
    fake_twilio: FakeTwilio,
) -> None:
    since = datetime.now(UTC)
    fake_twilio.accept_then_hang(1, seconds=10)
    started = time.monotonic()

    with make_sms(fake_twilio, timeout=0.5) as sms:
        with pytest.raises(SmsOutcomeUnknown):
            sms.send(to=TO, body="Reply ACK K7 to take charge")
        assert time.monotonic() - started < 3

        found = sms.find_sent(to=TO, since=since)

    [accepted] = fake_twilio.messages
    assert [(r.sid, r.body, r.status) for r in found] == [
        (accepted.sid, "Reply ACK K7 to take charge", "queued")
    ]


def test_connection_dropped_after_accepting_is_outcome_unknown(
    fake_twilio: FakeTwilio, sms: TwilioSms
) -> None:
    fake_twilio.accept_then_drop(1)

    with pytest.raises(SmsOutcomeUnknown):
        sms.send(to=TO, body="hello")

    assert len(fake_twilio.messages) == 1


def test_sixteen_senders_sharing_one_gateway_keep_their_connections(
    fake_twilio: FakeTwilio, sms: TwilioSms, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender pool shares one gateway: each thread's kept-alive connection goes back to the
    pool, not away ("connection pool is full"), which would reconnect for every text."""
    fake_twilio.accept_then_hang(32, seconds=0.1)  # slow answers: all sixteen are in flight at once
    start = threading.Barrier(16)

    def send_two(i: int) -> None:
        start.wait()
        for round_ in range(2):
            sms.send(to=TO, body=f"text {i}.{round_}")

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        threads = [threading.Thread(target=send_two, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(fake_twilio.wait_for_messages(32)) == 32
    assert not [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: the request never leaves.
    with TwilioSms("AC1", "token", FROM, f"http://127.0.0.1:{port}", timeout=2) as sms:
        with pytest.raises(SmsRetryable):
            sms.send(to=TO, body="hello")
        with pytest.raises(SmsRetryable):
            sms.find_sent(to=TO, since=datetime.now(UTC))


def test_find_sent_keeps_only_that_number_since_the_time(fake_twilio: FakeTwilio) -> None:
    t0 = datetime(2025, 3, 4, 9, 0, 0, tzinfo=UTC)
    now = [t0]
    fake_twilio.clock = lambda: now[0]  # move the fake's time instead of sleeping
    with make_sms(fake_twilio) as sms:
        sms.send(to=TO, body="early", status_callback=CALLBACK)
        now[0] = t0 + timedelta(hours=1)
        late = sms.send(to=TO, body="late", status_callback=CALLBACK)
        sms.send(to="+447700900999", body="someone else")
        early_sid = fake_twilio.messages[0].sid
        fake_twilio.prepare_status_callback(early_sid, "delivered")
        fake_twilio.prepare_status_callback(late.sid, "delivered")

        found = sms.find_sent(to=TO, since=t0 + timedelta(minutes=30, microseconds=5))

    assert [(r.sid, r.body) for r in found] == [(late.sid, "late")]
    assert found[0].date_created == t0 + timedelta(hours=1)
    list_params = [r.params for r in fake_twilio.requests if r.method == "GET"]
    assert {"To": TO, "DateSent>": "2025-03-04T00:00:00Z"}.items() <= list_params[0].items()


def test_find_sent_needs_an_aware_time(sms: TwilioSms) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sms.find_sent(to=TO, since=datetime(2025, 1, 1))  # noqa: DTZ001


def test_find_sent_with_bad_credentials_is_retryable(fake_twilio: FakeTwilio) -> None:
    with make_sms(fake_twilio, token="wrong") as sms, pytest.raises(SmsRetryable) as caught:
        sms.find_sent(to=TO, since=datetime.now(UTC))

    assert (caught.value.http_status, caught.value.code) == (401, 20003)


def test_sdk_follows_the_fakes_pages(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    for n in range(5):
        sms.send(to=TO, body=f"text {n}")

    bodies = [m.body for m in sms.client.messages.list(to=TO, page_size=2)]

    assert bodies == [f"text {n}" for n in range(4, -1, -1)]
    assert sum(r.method == "GET" for r in fake_twilio.requests) == 3


def test_base_url_rewrites_only_twilio_hosts() -> None:
    client = TwilioBaseUrlHttpClient("http://127.0.0.1:8099/prefix", timeout=1)
    real = TwilioBaseUrlHttpClient("https://api.twilio.com", timeout=1)
    try:
        assert (
            client.rewrite_url("https://api.twilio.com/2010-04-01/Accounts.json?Page=1")
            == "http://127.0.0.1:8099/prefix/2010-04-01/Accounts.json?Page=1"
        )
        assert client.rewrite_url("https://messaging.twilio.com/v1/Services") == (
            "http://127.0.0.1:8099/prefix/v1/Services"
        )
        assert client.rewrite_url("https://example.com/x") == "https://example.com/x"
        assert real.rewrite_url("https://messaging.twilio.com/v1") == "https://messaging.twilio.com/v1"
    finally:
        client.close()
        real.close()


@pytest.mark.parametrize(("base_url", "timeout"), [("ftp://host", 1.0), ("http://x", 0.0)])
def test_twilio_sms_rejects_bad_settings(base_url: str, timeout: float) -> None:
    with pytest.raises(ValueError, match=r"TWILIO_BASE_URL|timeout"):
        TwilioSms("AC1", "token", FROM, base_url, timeout)


def test_deliver_status_posts_a_signed_callback(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    received: list[tuple[str, dict[str, str], str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, dict(parse_qsl(form)), self.headers["X-Twilio-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with HTTPServer(("127.0.0.1", 0), Receiver) as receiver:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/twilio/status"
        thread = threading.Thread(target=receiver.handle_request)
        thread.start()
        sent = sms.send(to=TO, body="hello", status_callback=url)
        status = fake_twilio.deliver_status(sent.sid, "undelivered", 30003)
        thread.join(timeout=5)

    assert status == 204
    [(path, params, signature)] = received
    assert path == "/twilio/status"
    assert params["MessageSid"] == sent.sid
    assert params["MessageStatus"] == "undelivered"
    assert params["ErrorCode"] == "30003"
    assert params["To"] == TO
    assert params["AccountSid"] == fake_twilio.account_sid
    assert RequestValidator(fake_twilio.auth_token).validate(url, params, signature)
    assert signature == sign(url, params, fake_twilio.auth_token)
    assert not RequestValidator("other-token").validate(url, params, signature)
    assert fake_twilio.messages[0].status == "undelivered"


def test_wait_for_messages_times_out_quickly(fake_twilio: FakeTwilio) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        fake_twilio.wait_for_messages(1, timeout=0.05)


def test_console_sms_prints_stores_and_finds() -> None:
    out = io.StringIO()
    moment = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    console = ConsoleSms(stream=out, clock=lambda: moment)

    sent = console.send(to=TO, body="Reply OK or EXT 30", status_callback=CALLBACK)

    assert sent.status == "sent"
    assert re.fullmatch(r"CONSOLE[0-9a-f]{32}", sent.sid)
    assert f"--- SMS to {TO} ---\nReply OK or EXT 30\n" in out.getvalue()
    assert [(m.to, m.body, m.status_callback) for m in console.sent] == [(TO, "Reply OK or EXT 30", CALLBACK)]
    assert [r.sid for r in console.find_sent(to=TO, since=moment)] == [sent.sid]
    assert console.find_sent(to=TO, since=moment + timedelta(seconds=1)) == []
    assert console.find_sent(to="+447700900999", since=moment) == []


def test_build_gateway_defaults_to_console() -> None:
    assert isinstance(build_gateway({}), ConsoleSms)
    assert isinstance(build_gateway({"SMS_BACKEND": "console"}), ConsoleSms)


def test_build_gateway_builds_twilio_from_settings() -> None:
    gateway = build_gateway(
        {
            "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "token",
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_BASE_URL": "http://127.0.0.1:1",
            "TWILIO_TIMEOUT_SECONDS": 0.5,
        }
    )
    try:
        assert isinstance(gateway, TwilioSms)
        assert (gateway.from_number, gateway.base_url, gateway.timeout) == (
            FROM,
            "http://127.0.0.1:1",
            0.5,
        )
    finally:
        gateway.close()


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"])
def test_build_gateway_names_the_missing_twilio_setting(missing: str) -> None:
    config = {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "token",
        "TWILIO_FROM_NUMBER": FROM,
    }
    config[missing] = ""

    with pytest.raises(ValueError, match=missing):
        build_gateway(config)


def test_build_gateway_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="carrier-pigeon"):
        build_gateway({"SMS_BACKEND": "carrier-pigeon"})


@pytest.mark.parametrize(
    ("status", "error_code", "verdict"),
    [
        ("delivered", None, "ok"),
        ("sent", None, "ok"),
        ("queued", None, "pending"),
        ("sending", None, "pending"),
        ("accepted", None, "pending"),
        ("undelivered", 30003, "undeliverable"),
        ("failed", 30004, "undeliverable"),
        ("undelivered", 30005, "undeliverable"),
        ("failed", 30006, "undeliverable"),
        ("failed", 21610, "undeliverable"),
        ("undelivered", 30001, "retry"),
        ("failed", 30008, "retry"),
        ("undelivered", 30007, "failed"),
        ("failed", None, "failed"),
        ("Delivered", None, "ok"),
        ("something-new", None, "pending"),
    ],
)
def test_classify_delivery_status(status: str, error_code: int | None, verdict: str) -> None:
    assert classify_delivery_status(status, error_code) == verdict
