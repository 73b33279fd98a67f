"""Voice gateways: where escalation calls leave the system (Twilio's Calls API, or the console).

Failures reuse the text gateways' three cases (`gateways.SmsUndeliverable`, `SmsRetryable`,
`SmsOutcomeUnknown`), so the call outbox follows the same rules as the text outbox: a call whose
outcome is unknown is looked for (`find_placed`, Twilio's Calls list) before it is placed again.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

import requests
from twilio.base.exceptions import TwilioException

from safetycheck.escalation import gateways

#: Twilio error codes meaning "this number cannot be called": skip the contact at once.
CALL_UNDELIVERABLE_CODES: frozenset[int] = frozenset({13223, 13224, 21211, 21214, 21215, 21217})
#: The call progress events we ask Twilio to report (status callbacks).
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call Twilio accepted."""

    sid: str
    status: str


@dataclass(frozen=True, slots=True)
class PlacedCallRecord:
    """A call found at Twilio, for reconciling a placement whose outcome is unknown."""

    sid: str
    status: str
    date_created: datetime


@dataclass(frozen=True, slots=True)
class ConsoleCall:
    """What `ConsoleVoice` keeps of each call, so tests and demos can read them back."""

    sid: str
    to: str
    script: str
    url: str
    status_callback: str | None
    date_created: datetime


class VoiceGateway(Protocol):
    """What the call outbox needs from a voice provider."""

    name: str

    def place(
        self, *, to: str, url: str, status_callback: str | None, script: str, ring_seconds: int
    ) -> PlacedCall:
        """Start one call (Twilio fetches `url` for what to say) or raise an `SmsError` subclass."""
        ...

    def find_placed(self, *, to: str, since: datetime) -> list[PlacedCallRecord]:
        """List calls already placed to `to` since `since`, newest first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ConsoleVoice:
    """Print the call's script instead of phoning: the embedded default for development and demos.

    Nothing answers by itself: `flask --app safetycheck call-answer <phone> 1` plays the person
    pressing 1 (or another key, or not answering) against the running service.
    """

    name = "console"

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], datetime] = _utc_now) -> None:
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()
        self.calls: list[ConsoleCall] = []

    def place(
        self, *, to: str, url: str, status_callback: str | None, script: str, ring_seconds: int
    ) -> PlacedCall:
        """Print the script as a readable block and remember the call."""
        call = ConsoleCall("CA" + secrets.token_hex(16), to, script, url, status_callback, self._clock())
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            self.calls.append(call)
            stream.write(
                f"--- CALL to {to} ---\n{script}\nPress 1 to take charge.\n"
                f"(answer it: flask --app safetycheck call-answer {to} 1)\n--- end of call ---\n"
            )
            stream.flush()
        return PlacedCall(sid=call.sid, status="queued")

    def find_placed(self, *, to: str, since: datetime) -> list[PlacedCallRecord]:
        """Search the calls printed so far."""
        with self._lock:
            found = [c for c in self.calls if c.to == to and c.date_created >= since]
        return [PlacedCallRecord(c.sid, "queued", c.date_created) for c in reversed(found)]

    def close(self) -> None:
        """Nothing to release."""


class TwilioVoice:
    """Place calls through Twilio's Calls API with the official SDK (same base URL and timeout)."""

    name = "twilio"

    def __init__(self, sms: gateways.TwilioSms) -> None:
        # One client and one connection pool for texts and calls; the SMS gateway owns them.
        self._sms = sms
        self.client = sms.client
        self.from_number = sms.from_number

    def place(
        self, *, to: str, url: str, status_callback: str | None, script: str, ring_seconds: int
    ) -> PlacedCall:
        """Create the call with answering-machine detection; raise like `TwilioSms.send`."""
        extra: dict[str, Any] = {}
        if status_callback:
            extra = {
                "status_callback": status_callback,
                "status_callback_event": list(STATUS_EVENTS),
                "status_callback_method": "POST",
            }
        try:
            call = self.client.calls.create(
                to=to,
                from_=self.from_number,
                url=url,
                method="POST",
                machine_detection="Enable",
                timeout=ring_seconds,
                **extra,
            )
        except (TwilioException, requests.RequestException, json.JSONDecodeError) as exc:
            raise _voice_error(self._sms._translate(exc, request_is_safe=False)) from exc
        return PlacedCall(sid=str(call.sid), status=str(call.status))

    def find_placed(self, *, to: str, since: datetime) -> list[PlacedCallRecord]:
        """List calls to `to` started at or after `since` (whole seconds, like Twilio's dates)."""
        since_utc = since.astimezone(UTC).replace(microsecond=0)
        try:
            listed = self.client.calls.list(to=to, start_time_after=since_utc, limit=200)
        except (TwilioException, requests.RequestException, json.JSONDecodeError) as exc:
            raise self._sms._translate(exc, request_is_safe=True) from exc
        found = [
            PlacedCallRecord(str(c.sid), str(c.status), c.date_created)
            for c in listed
            if c.date_created is not None and c.date_created >= since_utc
        ]
        return sorted(found, key=lambda r: r.date_created, reverse=True)

    def close(self) -> None:
        """The SMS gateway closes the shared connections."""


def _voice_error(error: gateways.SmsError) -> gateways.SmsError:
    """Calls have refusal codes of their own (13223, 13224, 21214, 21215, 21217)."""
    if error.code in CALL_UNDELIVERABLE_CODES and not isinstance(error, gateways.SmsUndeliverable):
        return gateways.SmsUndeliverable(error.detail, code=error.code, http_status=error.http_status)
    return error


def build_voice_gateway(config: Mapping[str, Any], sms: gateways.SmsGateway) -> VoiceGateway:
    """The voice gateway matching the SMS gateway: calls go where texts go."""
    if isinstance(sms, gateways.TwilioSms):
        return TwilioVoice(sms)
    return ConsoleVoice()
