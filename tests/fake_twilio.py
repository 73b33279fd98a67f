"""A local fake of Twilio's Messages API, so tests drive the real twilio SDK over real HTTP.

It answers what the SDK needs (create, list with paging, fetch), records every accepted message,
answers after a chosen latency, injects failures (error answers, a hang after accepting, a
dropped connection, refused numbers, an outage of every request until it is called off)
and plays Twilio's part the other way: signed status callbacks.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import Request, urlopen

from twilio.request_validator import RequestValidator

from tests.fake_twilio_calls import CALLS_PATH, CallsMixin

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$")
_REFUSALS = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by {to}.",
    21610: "Attempt to send to unsubscribed recipient {to}.",
    21612: "The 'To' phone number {to} is not currently reachable via SMS.",
    21614: "'To' number {to} is not a valid mobile number.",
}
_SENT_STATUSES = {"sent", "delivered", "undelivered", "failed", "read"}


def sign(url: str, params: dict[str, str], auth_token: str) -> str:
    """Compute the X-Twilio-Signature Twilio would send for this POST."""
    return RequestValidator(auth_token).compute_signature(url, params)


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment.astimezone(UTC))


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class FakeMessage:
    """One accepted message, as the fake stores it."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    date_created: datetime
    status: str = "queued"
    error_code: int | None = None
    date_sent: datetime | None = None
    # When the fake accepted it, to the microsecond (date_created has whole seconds, like
    # Twilio's): latency measurements read this.
    received_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Render like Twilio's Message resource."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_sent or self.date_created),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": uri,
        }


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received, for asserting on what the SDK sent."""

    method: str
    path: str
    params: dict[str, str]


@dataclass(frozen=True)
class StatusCallback:
    """A signed status callback, ready to POST (or to hand to a Flask test client)."""

    url: str
    params: dict[str, str]
    signature: str


@dataclass
class _Injection:
    kind: str  # "fail", "hang" or "drop"
    http_status: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None
    seconds: float = 0.0


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close; hangs end early because stop() releases them.
    daemon_threads = False
    block_on_close = True
    # Twilio accepts any number of connections; the standard library's accept queue of 5
    # overflowed when several processes' sender pools connected at once, and the dropped SYNs
    # came back as connect timeouts, which no real gateway would produce.
    request_queue_size = 256
    fake: FakeTwilio

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client gave up (timeouts are the point of some tests)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # One request per connection: no idle keep-alive threads.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"
    timeout = 2  # an idle kept connection ends its handler thread after this long
    # Headers and body leave in two writes: with Nagle on, the second waits for the client's
    # delayed ACK, 40 ms a request once a connection is reused.
    disable_nagle_algorithm = True


class FakeTwilio(CallsMixin):
    """Twilio's Messages API (and Calls, `fake_twilio_calls.py`) on 127.0.0.1, a random port;
    use `with FakeTwilio() as fake:`."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        clock: Callable[[], datetime] | None = None,
        latency: float = 0.0,
        keep_alive: bool = False,
    ) -> None:
        self.account_sid = account_sid
        # Real Twilio keeps connections open (HTTP/1.1), and the gateway pools them; by default
        # the fake answers one request per connection, so no idle connection holds a handler
        # thread when a test stops it. Benchmarks turn it on: a new connection per text costs
        # both sides CPU that real Twilio would not.
        self.keep_alive = keep_alive
        # Real Twilio takes 100-300 ms to answer: every request is held this long (real time).
        self.latency = latency
        self._in_flight = 0
        self.max_in_flight = 0  # the most requests handled at once, to show senders overlap
        self.auth_token = auth_token
        self.clock = clock or (lambda: datetime.now(UTC))
        self._changed = threading.Condition()
        self._messages: list[FakeMessage] = []
        self._requests: list[RecordedRequest] = []
        self._injections: list[_Injection] = []
        self._refusals: dict[str, int] = {}
        self._outage: _Injection | None = None
        self._outage_accepts = False
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        """Listen on a free port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeTwilio is already running")
        server = _Server(("127.0.0.1", 0), _KeepAliveHandler if self.keep_alive else _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="fake-twilio")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung requests, stop serving and close every socket."""
        if self._server is None:
            return
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the SDK should send requests (SAFETYCHECK_TWILIO_BASE_URL)."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        """Forget messages, requests, injections and refusals; release any hung request."""
        with self._changed:
            self._messages.clear()
            self._requests.clear()
            self._injections.clear()
            self._refusals.clear()
            self._outage = None
            self._release.set()
            self._release = threading.Event()
        self.reset_calls()

    # -- what happened ---------------------------------------------------------------------

    @property
    def messages(self) -> list[FakeMessage]:
        """Copies of the accepted messages, oldest first."""
        with self._changed:
            return [replace(m) for m in self._messages]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        with self._changed:
            return list(self._requests)

    def wait_for_messages(self, count: int, timeout: float = 2.0) -> list[FakeMessage]:
        """Wait until at least `count` messages were accepted; raise TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} of {count} messages arrived")
            return [replace(m) for m in self._messages]

    # -- failure injection -----------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        http_status: int = 500,
        code: int | None = None,
        message: str = "Internal Server Error",
        *,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `n` message creations with a Twilio error and record nothing."""
        payload = _error(http_status, code or 0, message)
        if code is None:  # Twilio's 5xx bodies may carry no code.
            payload["code"], payload["more_info"] = None, None
        with self._changed:
            self._injections += [_Injection("fail", http_status, payload, retry_after) for _ in range(n)]

    def accept_then_hang(self, n: int = 1, seconds: float = 5.0) -> None:
        """Accept the next `n` messages but answer only after `seconds` (or at stop/reset)."""
        with self._changed:
            self._injections += [_Injection("hang", seconds=seconds) for _ in range(n)]

    def accept_then_drop(self, n: int = 1) -> None:
        """Accept the next `n` messages, then close the connection without an answer."""
        with self._changed:
            self._injections += [_Injection("drop") for _ in range(n)]

    def outage(self, kind: str | None, *, seconds: float = 30.0, accept: bool = False) -> None:
        """Until called again with None, answer every request (sends and lists) badly.

        `"error"`: HTTP 500 with no Twilio code, nothing recorded. `"hang"`: hold each request
        `seconds` (or until the outage ends, `reset` or `stop`) before answering; with `accept`,
        a send is recorded first (Twilio took it, the answer never came back in time).
        """
        with self._changed:
            if kind is None:
                self._outage = None
                self._release.set()
                self._release = threading.Event()
                return
            if kind not in ("error", "hang"):
                raise ValueError(f"unknown outage kind {kind!r}")
            self._outage = _Injection(kind, 500, _error(500, 0, "Internal Server Error"), seconds=seconds)
            self._outage.payload["code"] = None
            self._outage_accepts = accept

    def refuse_number(self, number: str, code: int = 21211) -> None:
        """Refuse every message to `number` with an HTTP 400 and Twilio error `code`."""
        with self._changed:
            self._refusals[number] = code

    # -- the other direction: status callbacks -----------------------------------------------

    def prepare_status_callback(
        self, message_sid: str, status: str, error_code: int | None = None
    ) -> StatusCallback:
        """Move a message to `status` and build the signed callback Twilio would send."""
        with self._changed:
            message = next((m for m in self._messages if m.sid == message_sid), None)
            if message is None:
                raise KeyError(f"no message {message_sid}")
            if not message.status_callback:
                raise ValueError(f"message {message_sid} was created without StatusCallback")
            message.status, message.error_code = status, error_code
            if status in _SENT_STATUSES and message.date_sent is None:
                message.date_sent = self.clock().replace(microsecond=0)
            params = {
                "MessageSid": message.sid,
                "SmsSid": message.sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message.to,
                "From": message.from_,
                "AccountSid": message.account_sid,
                "ApiVersion": API_VERSION,
            }
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            url = message.status_callback
        return StatusCallback(url, params, sign(url, params, self.auth_token))

    def deliver_status(self, message_sid: str, status: str, error_code: int | None = None) -> int:
        """POST a signed status callback to the message's StatusCallback; return the HTTP status."""
        callback = self.prepare_status_callback(message_sid, status, error_code)
        request = Request(
            callback.url,
            data=urlencode(callback.params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": callback.signature,
                "User-Agent": "TwilioProxy/1.1",
            },
            method="POST",
        )
        try:
            with urlopen(request, timeout=5) as response:
                return int(response.status)
        except HTTPError as error:
            with error:
                return error.code

    # -- request handling ------------------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        with self._changed:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            self._answer(handler, method)
        finally:
            with self._changed:
                self._in_flight -= 1

    def _answer(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        form: dict[str, list[str]] = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = parse_qs(handler.rfile.read(length).decode(), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
        with self._changed:
            self._requests.append(RecordedRequest(method, url.path, params))
            outage, release = self._outage, self._release
            accepts = self._outage_accepts
        calls = CALLS_PATH.match(url.path)
        if calls is not None and outage is None:
            if not self._authorized(handler.headers.get("Authorization")):
                handler.reply(401, _error(401, 20003, "Authenticate"))
            else:
                self._handle_calls(handler, method, calls, params, form)
            return
        match = _PATH.match(url.path)
        if outage is not None and match is not None:
            if outage.kind == "error":
                handler.reply(500, outage.payload)
                return
            if method == "POST" and accepts:
                self._create(handler, params, hold=(release, outage.seconds))
                return
            release.wait(outage.seconds)
            try:
                handler.reply(503, _error(503, 0, "Service Unavailable"))
            except OSError:
                pass  # the client gave up waiting: that was the point
            return
        if not self._authorized(handler.headers.get("Authorization")):
            handler.reply(401, _error(401, 20003, "Authenticate"))
        elif match is None or match["account"] != self.account_sid:
            handler.reply(404, _error(404, 20404, f"The requested resource {url.path} was not found"))
        elif method == "POST" and match["sid"] is None:
            self._create(handler, params)
        elif method == "GET" and match["sid"] is None:
            handler.reply(200, self._list(url.path, params))
        elif method == "GET":
            found = [m for m in self.messages if m.sid == match["sid"]]
            if found:
                handler.reply(200, found[0].to_json())
            else:
                handler.reply(404, _error(404, 20404, f"Message {match['sid']} was not found"))
        else:
            handler.reply(405, _error(405, 20004, "Method not allowed"))

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    def _create(
        self, handler: _Handler, params: dict[str, str], *, hold: tuple[threading.Event, float] | None = None
    ) -> None:
        to, from_, body = (params.get(key, "") for key in ("To", "From", "Body"))
        for value, code, text in (
            (to, 21604, "A 'To' phone number is required."),
            (from_, 21603, "A 'From' phone number is required."),
            (body, 21602, "Message body is required."),
        ):
            if not value:
                handler.reply(400, _error(400, code, text))
                return
        with self._changed:
            injection = self._injections.pop(0) if self._injections else None
            refusal = self._refusals.get(to)
            release = self._release
        if injection is not None and injection.kind == "fail":
            headers = {}
            if injection.retry_after is not None:
                headers["Retry-After"] = str(injection.retry_after)
            handler.reply(injection.http_status, injection.payload, headers)
            return
        if refusal is not None:
            text = _REFUSALS.get(refusal, "Message refused for {to}.").format(to=to)
            handler.reply(400, _error(400, refusal, text))
            return
        received = self.clock().astimezone(UTC)
        message = FakeMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status_callback=params.get("StatusCallback") or None,
            date_created=received.replace(microsecond=0),
            received_at=received,
        )
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()
            answer = message.to_json()
        if injection is not None and injection.kind == "drop":
            handler.close_connection = True
            return
        if injection is not None and injection.kind == "hang":
            release.wait(injection.seconds)
        if hold is not None:
            hold[0].wait(hold[1])
        try:
            handler.reply(201, answer)
        except OSError:
            pass  # The client timed out and went away: that was the point.

    def _list(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """Filter and page like Twilio: newest first, DateSent compared by whole days."""

        def day(key: str) -> date | None:
            value = params.get(key)
            return date.fromisoformat(value[:10]) if value else None

        exact, after, before = day("DateSent"), day("DateSent>"), day("DateSent<")
        selected = []
        for m in reversed(self.messages):
            if params.get("To") and m.to != params["To"]:
                continue
            if params.get("From") and m.from_ != params["From"]:
                continue
            if exact or after or before:
                # Assumption: a message still queued has no date_sent and matches no date filter.
                sent = m.date_sent.date() if m.date_sent else None
                if sent is None or (exact and sent != exact):
                    continue
                if (after and sent < after) or (before and sent > before):
                    continue
            selected.append(m)
        page_size = int(params.get("PageSize") or 50)
        page = int(params.get("Page") or 0)
        chunk = selected[page * page_size : (page + 1) * page_size]

        def page_uri(number: int) -> str:
            query = {k: v for k, v in params.items() if k not in ("Page", "PageToken")}
            return f"{path}?{urlencode({**query, 'PageSize': page_size, 'Page': number})}"

        has_next = (page + 1) * page_size < len(selected)
        return {
            "messages": [m.to_json() for m in chunk],
            "end": page * page_size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": page * page_size,
            "uri": page_uri(page),
        }
