"""The fake Twilio's Calls API (create, list, fetch) and the person who answers the phone.

`FakeTwilio` mixes this in. Placing a call records it; `answer_call` then plays Twilio's part of
the call over real HTTP against the service: the signed status callbacks the call asked for, the
TwiML fetch from the call's Url, a keypress posted to the `<Gather>` action, voicemail
(AnsweredBy machine_end_beep), silence, busy, no-answer or failed. The service's public URL
(SAFETYCHECK_PUBLIC_URL, which the signatures cover) is routed to where the service really
listens with `route`, as a proxy would.
"""

from __future__ import annotations

import re
import secrets
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

API_VERSION = "2010-04-01"
CALLS_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<sid>[^/]+))?\.json$")
HOW = ("answer", "silence", "voicemail", "busy", "no-answer", "failed")


@dataclass
class FakeCall:
    """One accepted call, as the fake stores it."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str
    method: str
    status_callback: str | None
    status_callback_events: tuple[str, ...]
    machine_detection: str | None
    timeout: int | None
    date_created: datetime
    status: str = "queued"
    answered_by: str | None = None
    duration: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Render like Twilio's Call resource."""
        from email.utils import format_datetime

        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"
        created = format_datetime(self.date_created.astimezone(UTC))
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "status": self.status,
            "answered_by": self.answered_by,
            "direction": "outbound-api",
            "api_version": API_VERSION,
            "date_created": created,
            "date_updated": created,
            "start_time": created,
            "end_time": None,
            "duration": None if self.duration is None else str(self.duration),
            "price": None,
            "price_unit": "USD",
            "uri": uri,
            "subresource_uris": {},
        }


@dataclass
class CallPlay:
    """What happened when `answer_call` played a call: each POST's URL, HTTP status and answer."""

    posts: list[tuple[str, int, str]] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [status for _, status, _ in self.posts]

    def said(self) -> str:
        """Every TwiML answer, joined (what the person heard)."""
        return " ".join(body for url, _, body in self.posts if "<Response>" in body or "<Say" in body)


class CallsMixin:
    """Calls for `FakeTwilio`: it provides `_changed`, `account_sid`, `auth_token`, `clock`."""

    _changed: threading.Condition
    account_sid: str
    auth_token: str

    def _calls_state(self) -> dict[str, Any]:
        state: dict[str, Any] | None = getattr(self, "_calls_store", None)
        if state is None:
            state = {"calls": [], "routes": {}, "fail": [], "refuse": {}}
            self._calls_store = state
        return state

    # -- setup -------------------------------------------------------------------------------

    def route(self, public_url: str, actual_url: str) -> None:
        """Send requests for `public_url…` to `actual_url…` (signatures stay over the public URL)."""
        with self._changed:
            self._calls_state()["routes"][public_url.rstrip("/")] = actual_url.rstrip("/")

    def fail_next_call(self, n: int = 1, http_status: int = 500, code: int | None = None) -> None:
        """Answer the next `n` call creations with an error and record nothing."""
        with self._changed:
            self._calls_state()["fail"] += [(http_status, code) for _ in range(n)]

    def refuse_call(self, number: str, code: int = 13224) -> None:
        """Refuse every call to `number` with an HTTP 400 and Twilio error `code`."""
        with self._changed:
            self._calls_state()["refuse"][number] = code

    def reset_calls(self) -> None:
        with self._changed:
            self._calls_store = None

    @property
    def calls(self) -> list[FakeCall]:
        """Copies of the accepted calls, oldest first."""
        with self._changed:
            return [replace(c) for c in self._calls_state()["calls"]]

    # -- the REST side -----------------------------------------------------------------------

    def _handle_calls(
        self,
        handler: Any,
        method: str,
        match: re.Match[str],
        params: dict[str, str],
        form: dict[str, list[str]],
    ) -> None:
        from tests.fake_twilio import _error

        if match["account"] != self.account_sid:
            handler.reply(404, _error(404, 20404, "not found"))
        elif method == "POST" and match["sid"] is None:
            self._create_call(handler, params, form)
        elif method == "GET" and match["sid"] is None:
            handler.reply(200, self._list_calls(params))
        elif method == "GET":
            found = [c for c in self.calls if c.sid == match["sid"]]
            if found:
                handler.reply(200, found[0].to_json())
            else:
                handler.reply(404, _error(404, 20404, f"Call {match['sid']} was not found"))
        else:
            handler.reply(405, _error(405, 20004, "Method not allowed"))

    def _create_call(self, handler: Any, params: dict[str, str], form: dict[str, list[str]]) -> None:
        from tests.fake_twilio import _error

        to, from_, url = (params.get(key, "") for key in ("To", "From", "Url"))
        for value, code, text in (
            (to, 21201, "No 'To' number is specified"),
            (from_, 21213, "No 'From' number is specified"),
            (url, 21205, "Url parameter is required"),
        ):
            if not value:
                handler.reply(400, _error(400, code, text))
                return
        with self._changed:
            state = self._calls_state()
            failure = state["fail"].pop(0) if state["fail"] else None
            refusal = state["refuse"].get(to)
        if failure is not None:
            status, code = failure
            handler.reply(status, _error(status, code or 0, "Call creation failed"))
            return
        if refusal is not None:
            handler.reply(400, _error(400, refusal, f"Cannot call {to}"))
            return
        call = FakeCall(
            sid="CA" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            url=url,
            method=params.get("Method") or "POST",
            status_callback=params.get("StatusCallback") or None,
            status_callback_events=tuple(form.get("StatusCallbackEvent") or ["completed"]),
            machine_detection=params.get("MachineDetection"),
            timeout=int(params["Timeout"]) if params.get("Timeout") else None,
            date_created=self.clock().astimezone(UTC).replace(microsecond=0),  # type: ignore[attr-defined]
        )
        with self._changed:
            self._calls_state()["calls"].append(call)
            self._changed.notify_all()
            answer = call.to_json()
        handler.reply(201, answer)

    def _list_calls(self, params: dict[str, str]) -> dict[str, Any]:
        after = params.get("StartTime>")
        since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        selected = [
            c
            for c in reversed(self.calls)
            if (not params.get("To") or c.to == params["To"]) and (since is None or c.date_created >= since)
        ]
        page_size = int(params.get("PageSize") or 50)
        return {
            "calls": [c.to_json() for c in selected[:page_size]],
            "first_page_uri": None,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "start": 0,
            "end": max(len(selected[:page_size]) - 1, 0),
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls.json",
        }

    # -- the phone side ----------------------------------------------------------------------

    def answer_call(
        self, sid: str, how: str = "answer", press: str | None = None, duration: int = 25
    ) -> CallPlay:
        """Play the call: `how` is one of HOW; `press` a key to press at the Gather (with answer)."""
        if how not in HOW:
            raise ValueError(f"how must be one of {HOW}")
        call = next((c for c in self.calls if c.sid == sid), None)
        if call is None:
            raise KeyError(f"no call {sid}")
        play = CallPlay()
        self._event(call, play, "initiated", "initiated")
        if how in ("busy", "failed"):
            self._event(call, play, "completed", how)
            return play
        self._event(call, play, "ringing", "ringing")
        if how == "no-answer":
            self._event(call, play, "completed", "no-answer")
            return play
        answered_by = "machine_end_beep" if how == "voicemail" else "human"
        self._set(call, status="in-progress", answered_by=answered_by)
        self._event(call, play, "answered", "in-progress")
        twiml = self._post(call, play, call.url, {"CallStatus": "in-progress"})
        action = _gather_action(twiml)
        if how == "answer" and press is not None and action is not None:
            self._post(
                call, play, action, {"CallStatus": "in-progress", "Digits": press, "FinishedOnKey": ""}
            )
        self._set(call, status="completed", duration=duration)
        self._event(call, play, "completed", "completed")
        return play

    def _set(self, call: FakeCall, **changes: Any) -> None:
        with self._changed:
            for stored in self._calls_state()["calls"]:
                if stored.sid == call.sid:
                    for key, value in changes.items():
                        setattr(stored, key, value)
                    for key, value in changes.items():
                        setattr(call, key, value)

    def _event(self, call: FakeCall, play: CallPlay, event: str, status: str) -> None:
        if status != "in-progress":
            self._set(call, status=status)
        if call.status_callback and event in call.status_callback_events:
            extra = {"CallStatus": status}
            if status == "completed" and call.duration is not None:
                extra["CallDuration"] = str(call.duration)
            self._post(call, play, call.status_callback, extra)

    def _post(self, call: FakeCall, play: CallPlay, url: str, extra: dict[str, str]) -> str:
        from tests.fake_twilio import sign

        params = {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "From": call.from_,
            "To": call.to,
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
            **extra,
        }
        if call.answered_by and call.machine_detection:
            params["AnsweredBy"] = call.answered_by
        target = url
        with self._changed:
            routes = dict(self._calls_state()["routes"])
        for public, actual in routes.items():
            if url.startswith(public):
                target = actual + url[len(public) :]
        request = Request(
            target,
            data=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(url, params, self.auth_token),
                "User-Agent": "TwilioProxy/1.1",
            },
            method="POST",
        )
        try:
            with urlopen(request, timeout=10) as response:
                body = response.read().decode()
                play.posts.append((url, int(response.status), body))
        except HTTPError as error:
            with error:
                body = error.read().decode()
                play.posts.append((url, error.code, body))
        return body


def _gather_action(twiml: str) -> str | None:
    """The action URL of the first <Gather> in a TwiML answer, if any."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return None
    gather = root.find("Gather")
    return None if gather is None else gather.get("action")
