"""SMS gateways: where escalation texts leave the system, and how their failures are classified.

The outbox decides what to do after a failed send from the exception type alone:
`SmsUndeliverable` (skip this contact), `SmsRetryable` (surely not sent: try again later) and
`SmsOutcomeUnknown` (maybe sent: ask `find_sent` before sending again, because Twilio has no
idempotency key).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TextIO
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base import values
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

logger = logging.getLogger(__name__)

DEFAULT_TWILIO_BASE_URL = "https://api.twilio.com"

#: Twilio API error codes meaning "this number will never take a text": skip the contact.
UNDELIVERABLE_CODES: frozenset[int] = frozenset({21211, 21408, 21610, 21612, 21614})
#: Status-callback error codes (with `undelivered`/`failed`) meaning the number does not work.
DELIVERY_FAILURE_CODES_UNDELIVERABLE: frozenset[int] = frozenset({30003, 30004, 30005, 30006})
#: Status-callback error codes worth exactly one more attempt.
DELIVERY_FAILURE_CODES_RETRY_ONCE: frozenset[int] = frozenset({30001, 30008})
#: Gateway errors that may be answered after Twilio accepted the message.
AMBIGUOUS_HTTP_STATUSES: frozenset[int] = frozenset({502, 504})

#: At most this many messages to one number are read back when reconciling: past it the text
#: is sent again, a duplicate being better than a lost escalation.
RECONCILE_SCAN_LIMIT = 2000

_PENDING_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending"})
# "sent" is final on carriers without delivery receipts; a later failure arrives as a new callback.
_OK_STATUSES = frozenset({"sent", "delivered", "read", "partially_delivered"})
_FAILED_STATUSES = frozenset({"undelivered", "failed", "canceled"})

DeliveryVerdict = Literal["ok", "pending", "undeliverable", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class SentSms:
    """A message the gateway accepted."""

    sid: str
    status: str


@dataclass(frozen=True, slots=True)
class SentSmsRecord:
    """A message found at the gateway, for reconciling a send whose outcome is unknown."""

    sid: str
    status: str
    body: str
    date_created: datetime


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """What `ConsoleSms` keeps of each text, so tests and demos can read them back."""

    sid: str
    to: str
    body: str
    status_callback: str | None
    date_created: datetime


class SmsError(Exception):
    """A send or lookup failed; the subclass says what the outbox may do next."""

    def __init__(self, detail: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(detail if code is None else f"{detail} (Twilio error {code})")
        self.detail = detail
        self.code = code
        self.http_status = http_status


class SmsUndeliverable(SmsError):
    """The number will never work (invalid, opted out, landline): skip the contact, flag it."""


class SmsRetryable(SmsError):
    """The message was surely not sent; try again, after `retry_after` seconds when given."""

    def __init__(
        self,
        detail: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(detail, code=code, http_status=http_status)
        self.retry_after = retry_after


class SmsOutcomeUnknown(SmsError):
    """The request may have reached Twilio: call `find_sent` before sending again."""


def is_outage(error: SmsError) -> bool:
    """Twilio (or the way to it) is down or throttling, rather than refusing this text: 5xx,
    429, no answer, an unknown outcome. The outbox never gives up on a text for that."""
    if isinstance(error, SmsOutcomeUnknown):
        return True
    return isinstance(error, SmsRetryable) and (
        error.http_status is None or error.http_status >= 500 or error.http_status == 429
    )


def classify_delivery_status(status: str, error_code: int | None) -> DeliveryVerdict:
    """Turn a status callback into what the outbox should do about that contact."""
    status = status.lower()
    if status in _OK_STATUSES:
        return "ok"
    if status in _FAILED_STATUSES:
        if error_code in DELIVERY_FAILURE_CODES_UNDELIVERABLE or error_code in UNDELIVERABLE_CODES:
            return "undeliverable"
        if error_code in DELIVERY_FAILURE_CODES_RETRY_ONCE:
            return "retry"
        return "failed"
    # Pending, or a status newer than this code: wait for the next callback; the ladder repeats.
    return "pending"


class SmsGateway(Protocol):
    """What the outbox needs from an SMS provider."""

    name: str

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> SentSms:
        """Send one text or raise an `SmsError` subclass."""
        ...

    def find_sent(self, *, to: str, since: datetime) -> list[SentSmsRecord]:
        """List texts already sent to `to` since `since`, to reconcile an unknown outcome."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _require_aware(since: datetime) -> datetime:
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return since.astimezone(UTC)


class ConsoleSms:
    """Print texts instead of sending them: the embedded default for development and demos."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], datetime] = _utc_now) -> None:
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()
        self.sent: list[ConsoleMessage] = []

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> SentSms:
        """Print the text as a readable block and remember it."""
        message = ConsoleMessage(
            sid="CONSOLE" + secrets.token_hex(16),
            to=to,
            body=body,
            status_callback=status_callback,
            date_created=self._clock(),
        )
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            self.sent.append(message)
            stream.write(f"--- SMS to {to} ---\n{body}\n--- end of SMS ---\n")
            stream.flush()
        return SentSms(sid=message.sid, status="sent")

    def find_sent(self, *, to: str, since: datetime) -> list[SentSmsRecord]:
        """Search the texts printed so far."""
        since_utc = _require_aware(since)
        with self._lock:
            found = [m for m in self.sent if m.to == to and m.date_created >= since_utc]
        return [SentSmsRecord(m.sid, "sent", m.body, m.date_created) for m in found]

    def close(self) -> None:
        """Nothing to release."""


def _is_twilio_host(host: str) -> bool:
    return host == "twilio.com" or host.endswith(".twilio.com")


CONNECTIONS_KEPT = 64


class TwilioBaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the twilio SDK ships no types
    """Send the SDK's requests to `base_url` with a hard timeout.

    twilio-python hard-codes `https://*.twilio.com` hosts and waits forever by default; tests
    and proxies need another host, and a hung request must not stall the escalation sweep.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        # One kept-alive connection per sender thread (SAFETYCHECK_OUTBOX_SENDERS allows up to
        # 64). The SDK keeps cpu+4 for https and requests 10 for http: with 16 senders, the
        # rest opened a fresh connection for every send and threw it away ("connection pool
        # is full"), a connect storm that can overflow a proxy's accept queue.
        adapter = HTTPAdapter(pool_maxsize=CONNECTIONS_KEPT)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"TWILIO_BASE_URL must be an http(s) URL, got {base_url!r}")
        # The real API host keeps the SDK's own routing (edges, regions, other products).
        self._base = None if parts.netloc == "api.twilio.com" else parts
        self._local = threading.local()

    def rewrite_url(self, url: str) -> str:
        """Point a Twilio URL at the configured base URL; leave other URLs alone."""
        parts = urlsplit(url)
        if self._base is None or not _is_twilio_host(parts.hostname or ""):
            return url
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        """Rewrite the host, then remember this thread's response for its headers."""
        self._local.response = None
        response = super().request(method, self.rewrite_url(url), *args, **kwargs)
        self._local.response = response
        return response

    def last_response(self) -> TwilioResponse | None:
        """Return this thread's last response: the SDK's exceptions drop headers (Retry-After)."""
        return getattr(self._local, "response", None)

    def close(self) -> None:
        """Close pooled connections."""
        if self.session is not None:
            self.session.close()


def _parse_retry_after(value: str | None) -> float | None:
    """Read Retry-After in seconds (what Twilio sends); ignore anything else."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _sent_before_failing(exc: requests.RequestException) -> bool:
    """Tell whether a transport error happened before any byte of the request left."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    # requests wraps a refused or unresolvable connection as MaxRetryError(reason=
    # NewConnectionError), a subclass of ConnectTimeoutError. A reset or a socket closed
    # mid-response comes as a bare ProtocolError, and TLS errors can happen on either side of
    # sending: those stay "unknown".
    cause = exc.args[0] if exc.args else None
    return (
        isinstance(exc, requests.ConnectionError)
        and isinstance(cause, MaxRetryError)
        and isinstance(cause.reason, ConnectTimeoutError)
    )


class TwilioSms:
    """Send texts through Twilio's REST API with the official SDK."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = DEFAULT_TWILIO_BASE_URL,
        timeout: float = 10.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.from_number = from_number
        self.base_url = base_url
        self.timeout = timeout
        self._http = TwilioBaseUrlHttpClient(base_url, timeout)
        self.client = Client(account_sid, auth_token, http_client=self._http)

    def __enter__(self) -> TwilioSms:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (unclosed sockets warn, and tests treat warnings as errors)."""
        self._http.close()

    def send(self, *, to: str, body: str, status_callback: str | None = None) -> SentSms:
        """Create the message; raise `SmsUndeliverable`, `SmsRetryable` or `SmsOutcomeUnknown`."""
        try:
            message = self.client.messages.create(
                to=to,
                from_=self.from_number,
                body=body,
                status_callback=status_callback if status_callback else values.unset,
            )
        except (TwilioException, requests.RequestException, json.JSONDecodeError) as exc:
            raise self._translate(exc, request_is_safe=False) from exc
        return SentSms(sid=str(message.sid), status=str(message.status))

    def find_sent(self, *, to: str, since: datetime) -> list[SentSmsRecord]:
        """List messages to `to` created at or after `since`, newest first.

        Twilio filters `DateSent` by whole days and a still-queued message has no date_sent,
        so this asks twice (that day onwards, and every message regardless of date back to
        `since`) and then filters on date_created here. date_created has whole seconds, so
        `since` is floored.
        """
        since_utc = _require_aware(since).replace(microsecond=0)
        day_start = since_utc.replace(hour=0, minute=0, second=0)
        try:
            dated = self.client.messages.list(to=to, date_sent_after=day_start, limit=100)
            latest = list(self._back_to(to, since_utc))
        except (TwilioException, requests.RequestException, json.JSONDecodeError) as exc:
            raise self._translate(exc, request_is_safe=True) from exc
        found: dict[str, SentSmsRecord] = {}
        for message in [*dated, *latest]:
            created = message.date_created
            if created is None or created < since_utc or message.sid in found:
                continue
            found[str(message.sid)] = SentSmsRecord(
                sid=str(message.sid),
                status=str(message.status),
                body=message.body or "",
                date_created=created,
            )
        return sorted(found.values(), key=lambda r: r.date_created, reverse=True)

    def _back_to(self, to: str, since: datetime) -> Iterator[Any]:
        """Messages to `to`, newest first, page by page until well before `since`.

        Not a fixed count: an on-call manager can be sent dozens of texts in the minute a
        stranded text waits to be reconciled, and one missed here is sent a second time. The
        list is newest first; a run of older messages (not the first, since the order follows
        the sending date, which can trail creation) means the window is behind us.
        """
        older_in_a_row = 0
        for message in self.client.messages.stream(to=to, page_size=50, limit=RECONCILE_SCAN_LIMIT):
            created = message.date_created
            if created is not None and created < since:
                older_in_a_row += 1
                if older_in_a_row >= 20:
                    return
                continue
            older_in_a_row = 0
            yield message

    def _translate(self, exc: Exception, *, request_is_safe: bool) -> SmsError:
        """Map SDK and transport errors to the outbox's three cases.

        `request_is_safe` marks a read (listing messages): repeating it cannot send a text, so
        no failure of it is an unknown outcome.
        """
        if isinstance(exc, requests.RequestException):
            if request_is_safe or _sent_before_failing(exc):
                return SmsRetryable(f"could not reach Twilio: {exc}")
            return SmsOutcomeUnknown(f"Twilio connection failed after sending: {exc}")
        if isinstance(exc, json.JSONDecodeError):
            error_cls = SmsRetryable if request_is_safe else SmsOutcomeUnknown
            return error_cls(f"unreadable answer from Twilio: {exc}")
        status, code, detail, headers = self._error_parts(exc)
        if code is not None and code < 1000:
            code = None  # The SDK fills in the HTTP status when the body carries no Twilio code.
        if code in UNDELIVERABLE_CODES:
            return SmsUndeliverable(detail, code=code, http_status=status)
        if status == 429 or code == 20429:
            retry_after = _parse_retry_after((headers or {}).get("Retry-After"))
            return SmsRetryable(detail, code=code, http_status=status, retry_after=retry_after)
        if status in AMBIGUOUS_HTTP_STATUSES and not request_is_safe:
            return SmsOutcomeUnknown(detail, code=code, http_status=status)
        if status is None or status < 500:
            logger.warning(
                "Unexpected Twilio error, treated as retryable: HTTP %s code %s: %s",
                status,
                code,
                detail,
            )
        return SmsRetryable(detail, code=code, http_status=status)

    def _error_parts(self, exc: Exception) -> tuple[int | None, int | None, str, Mapping[str, str] | None]:
        """Pull status, code, message and headers out of the SDK's two error shapes."""
        last = self._http.last_response()
        headers = last.headers if last is not None else None
        if hasattr(exc, "status"):  # TwilioRestException, TwilioServiceException
            detail = getattr(exc, "msg", None) or getattr(exc, "detail", None) or str(exc)
            return exc.status, getattr(exc, "code", None), str(detail), headers
        # Listing raises a bare TwilioException("Unable to fetch page", response) on errors.
        response = exc.args[1] if len(exc.args) > 1 else None
        if not isinstance(response, TwilioResponse):
            return None, None, str(exc), headers
        code, detail = None, str(exc.args[0])
        try:
            payload = json.loads(response.text)
            code, detail = payload.get("code"), f"{detail}: {payload.get('message', '')}"
        except (ValueError, AttributeError):
            pass
        return response.status_code, code, detail, response.headers


def build_gateway(config: Mapping[str, Any]) -> SmsGateway:
    """Build the gateway named by `SMS_BACKEND`, failing fast on missing Twilio settings."""
    backend = str(config.get("SMS_BACKEND") or "console").strip().lower()
    if backend == "console":
        return ConsoleSms()
    if backend != "twilio":
        raise ValueError(f"SMS_BACKEND must be 'console' or 'twilio', got {backend!r}")
    settings: dict[str, str] = {}
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        value = config.get(key)
        if not value:
            raise ValueError(f"SMS_BACKEND is 'twilio' but {key} is not set")
        settings[key] = str(value)
    timeout = config.get("TWILIO_TIMEOUT_SECONDS")
    return TwilioSms(
        account_sid=settings["TWILIO_ACCOUNT_SID"],
        auth_token=settings["TWILIO_AUTH_TOKEN"],
        from_number=settings["TWILIO_FROM_NUMBER"],
        base_url=str(config.get("TWILIO_BASE_URL") or DEFAULT_TWILIO_BASE_URL),
        timeout=10.0 if timeout in (None, "") else float(timeout),
    )
