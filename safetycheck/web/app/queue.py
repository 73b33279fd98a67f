"""JSON for the phone page's script: its status poll, and what it queued while offline.

The script posts here under the page's own session, with the CSRF token in `X-CSRFToken` (as
every page form) and an `Idempotency-Key` per queued request, so a request delivered twice
(the answer to the first try was lost with the signal) is applied once. Answers are JSON:
200 `{"message"}` when done (or done before), the API's error shape otherwise; 401 when the
session has ended (the phone keeps the request and asks the person to sign in again), 403
to a signed-in person who is not a practitioner.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, flash, jsonify, render_template, request

from safetycheck import limits
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, DomainError, ValidationFailed
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import panic, phone
from safetycheck.extensions import db
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory, NearMissKind
from safetycheck.visits import service as visit_service
from safetycheck.web import assets
from safetycheck.web.app.routes import CHECKED_OUT, bp, wait_out
from safetycheck.web.auth import current_web_user, now
from safetycheck.web.filters import local_time

PAGE_ASSETS = (
    "vendor/govuk-frontend/govuk-frontend.min.css",
    "vendor/govuk-frontend/govuk-frontend.min.js",
    "vendor/htmx/htmx.min.js",
    "css/safetycheck.css",
    "css/app.css",
    "js/safetycheck.js",
    "js/app.js",
    "images/favicon.svg",
    "images/app-icon-192.png",
    "images/app-icon-512.png",
)


def _error(status: int, message: str, errors: dict[str, Any] | None = None) -> tuple[Response, int]:
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    body["errors"] = errors or {}
    return jsonify(body), status


def _refusal() -> Any | None:
    """401 to sign in again, 403 to a signed-in person who is not a practitioner, else None."""
    user = current_web_user()
    if user is None:
        return _error(401, "Sign in again.")
    if user.role != Role.PRACTITIONER:
        return _error(403, "This page is for practitioners.")
    return None


@bp.route("/status")
def status() -> Any:
    """Polled by the open page: the visit's due time, the reminder text, the panic's progress."""
    refused = _refusal()
    if refused is not None:
        return refused
    user = current_web_user()
    assert user is not None
    visit = visit_service.current_visit(user.id)
    reminder = phone.latest_reminder(visit) if visit is not None else None
    state = phone.open_panic(user)
    return jsonify(
        {
            "server_now": now().isoformat(),
            "visit": None
            if visit is None
            else {"id": visit.id, "status": str(visit.status), "due_at": visit.due_at.isoformat()},
            "due_time": local_time(visit.due_at) if visit is not None else None,
            "reminder": reminder.body if reminder is not None else None,
            "panic": None
            if state is None
            else {
                "raised_at": state.raised_at.isoformat(),
                "taken_by": state.taken_by,
                "taken_at": local_time(state.taken_at) if state.taken_at else None,
            },
        }
    )


@bp.route("/queue/<any(checkout, extend, panic, report):action>", methods=["POST"])
def deliver(action: str) -> Any:
    """Apply one queued request once; a second delivery with the same key answers the same."""
    started = time.perf_counter()
    refused = _refusal()
    if refused is not None:
        return refused
    user = current_web_user()
    assert user is not None
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > phone.KEY_MAX:
        return _error(
            422, "Missing Idempotency-Key.", {"Idempotency-Key": [f"1 to {phone.KEY_MAX} characters."]}
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(422, "The body must be a JSON object.")
    try:
        if phone.already_applied(user, key, action):
            message = REPLAYED[action]
        else:
            message = HANDLERS[action](user, body)
            phone.remember(user, key, action, now=now())
            db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _error(error.http_status, error.message, dict(error.errors))
    if action == "checkout":
        wait_out(started)
    if action != "panic":  # the page's own "Help is on its way" says it, at the top
        flash(message, "success")  # shown when the page reloads, as after a form post
    return jsonify({"message": message})


def _int(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 2**31 - 1:
        raise ValidationFailed(f"Invalid {name}.", {name: ["Must be a whole number, 1 or more."]})
    return value


def _text(body: dict[str, Any], name: str, *, limit: int, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"Missing {name}.", {name: ["Required."]})
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(f"Invalid {name}.", {name: [f"Text of at most {limit} characters."]})
    return value


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise ValidationFailed(f"Invalid {name}.", {name: ["Must be true or false."]})
    return value


def _location(body: dict[str, Any]) -> alarm_service.Location | None:
    data = body.get("location")
    if data is None:
        return None
    ok = isinstance(data, dict) and all(
        isinstance(data.get(k), int | float) and not isinstance(data.get(k), bool) for k in ("lat", "lon")
    )
    accuracy = data.get("accuracy_m") if isinstance(data, dict) else None
    if (
        not ok
        or not (-90 <= data["lat"] <= 90 and -180 <= data["lon"] <= 180)
        or not (
            accuracy is None
            or (isinstance(accuracy, int | float) and math.isfinite(accuracy) and accuracy >= 0)
        )
    ):
        raise ValidationFailed(
            "Invalid location.", {"location": ["lat -90..90, lon -180..180, accuracy_m >= 0."]}
        )
    return alarm_service.Location(float(data["lat"]), float(data["lon"]), accuracy)


def _queued_visit(user: User, body: dict[str, Any]) -> int | None:
    """The current visit, if it is the one the phone queued the request for."""
    visit_id = _int(body, "visit_id")
    current = visit_service.current_visit(user.id)
    return current.id if current is not None and current.id == visit_id else None


def _checkout(user: User, body: dict[str, Any]) -> str:
    pin = _text(body, "pin", limit=8)
    visit_id = _queued_visit(user, body)
    if visit_id is not None:  # else it ended already (a text, a manager): nothing more to do
        visit_service.check_out(user, visit_id, pin=pin, now=now())
    return CHECKED_OUT


def _extend(user: User, body: dict[str, Any]) -> str:
    minutes = _int(body, "minutes")
    visit_id = _queued_visit(user, body)
    if visit_id is None:
        raise Conflict("That visit is already checked out.", {"visit_id": ["Already checked out."]})
    visit = visit_service.extend(
        user,
        visit_id,
        minutes=minutes or 0,
        now=now(),
        max_minutes=current_app.config["MAX_EXTEND_MINUTES"],
        max_total_minutes=current_app.config["MAX_VISIT_TOTAL_MINUTES"],
    )
    return f"Extended by {minutes} minutes: you are due back at {local_time(visit.due_at)}."


def _panic(user: User, body: dict[str, Any]) -> str:
    panic.raise_panic(
        user,
        now=now(),
        visit_id=_int(body, "visit_id", required=False),
        message=_text(body, "message", limit=500),
        location=_location(body),
        may_start_ladder=limits.panic_ladder_allowed,
    )
    return PANIC_RAISED


def _report(user: User, body: dict[str, Any]) -> str:
    occurred_at = _when(body)
    visit = visit_service.current_visit(user.id)
    kind = _text(body, "near_miss_kind", limit=40)
    if kind is not None:
        if kind not in {k.value for k in NearMissKind}:
            raise ValidationFailed("Invalid near_miss_kind.", {"near_miss_kind": ["Unknown kind."]})
        incident_service.report_near_miss(
            user, kind=NearMissKind(kind), now=now(), visit_id=visit.id if visit else None
        )
        return "Thank you: your near miss was recorded."
    category = _text(body, "category", limit=40, required=True)
    if category not in {c.value for c in IncidentCategory}:
        raise ValidationFailed("Invalid category.", {"category": ["Unknown category."]})
    incident_service.report(
        user,
        occurred_at=occurred_at,
        category=IncidentCategory(category),
        description=_text(body, "description", limit=5000, required=True) or "",
        near_miss=_bool(body, "near_miss"),
        harmed=_bool(body, "harmed"),
        visit_id=visit.id if visit else None,
        now=now(),
    )
    return "Thank you: your report was sent to your managers."


def _when(body: dict[str, Any]) -> datetime:
    """When the report was made on the phone (offline, perhaps an hour ago); now if not given."""
    value = _text(body, "occurred_at", limit=40)
    if value is None:
        return now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed("Invalid occurred_at.", {"occurred_at": ["A time with a UTC offset."]})
    return min(moment, now())  # a phone's clock a little ahead must not make it "in the future"


PANIC_RAISED = "Your alarm is raised: help is on its way."
HANDLERS: dict[str, Callable[[User, dict[str, Any]], str]] = {
    "checkout": _checkout,
    "extend": _extend,
    "panic": _panic,
    "report": _report,
}
REPLAYED = {
    "checkout": CHECKED_OUT,
    "extend": "That extension was already made.",
    "panic": PANIC_RAISED,
    "report": "Thank you: your report was sent to your managers.",
}


# --- installable: the service worker and the manifest ----------------------------------------------


@bp.route("/sw.js")
def service_worker() -> Response:
    """The service worker, with the hashed URLs it caches; allowed to control all of /app."""
    urls = [assets.asset_url(path) for path in PAGE_ASSETS]
    version = hashlib.sha256("".join(urls).encode()).hexdigest()[:12]  # new assets, new cache
    script = render_template("app/sw.js", urls=urls, version=version)
    response = Response(script, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/app"
    response.headers["Cache-Control"] = "no-cache"
    # A worker's own CSP governs its fetches: it may fetch (and cache) this service, nothing else.
    response.headers["Content-Security-Policy"] = "default-src 'none'; connect-src 'self'"
    return response


@bp.route("/manifest.webmanifest")
def manifest() -> Response:
    body = {
        "name": "SafetyCheck",
        "short_name": "SafetyCheck",
        "description": "Check in and out of home visits, and call for help.",
        "start_url": "/app",
        "scope": "/app",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b0c0c",
        "icons": [
            {"src": assets.asset_url("images/app-icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": assets.asset_url("images/app-icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": assets.asset_url("images/favicon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response
