"""Abuse limits: how many sign-ins, tokens, inbound texts, incident reports and fresh panic
ladders one address, account or person may cause, in one place.

Flask-Limiter holds the counts: in Redis when SAFETYCHECK_REDIS_URL is set, so every instance
shares them, else in this process's memory. Each app gets its own `Limiter` (a module-level one
would share its storage and on/off switch between apps in one process); views call `enforce()`
with the keys they know (after authentication, so a person's limit is theirs, not their office's
address). `SAFETYCHECK_RATELIMIT_ENABLED=false` (Flask-Limiter's own `RATELIMIT_ENABLED`)
switches every limit off, for benchmarks and load tests.

A limit that is hit answers 429 with `Retry-After` (the JSON error shape for the API, the error
page for pages), except the panic button: a panic is never refused (see `allow()`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import abort
from limits import RateLimitItem, parse_many
from prometheus_client import Counter

from safetycheck import ops

log = logging.getLogger(__name__)

# Process-wide, like every Prometheus counter; `init_app` adds it to each app's registry.
LIMIT_STORAGE_ERRORS = Counter(
    "safetycheck_ratelimit_storage_errors",
    "Abuse-limit checks let through because the limit storage (Redis) was unavailable",
    registry=None,
)

# Setting name -> what it limits. The values live in defaults/settings.toml (and docs/security.md).
LIMITS = {
    "RATELIMIT_SIGNIN_PER_ADDRESS": "sign-in attempts (API and page) from one network address",
    "RATELIMIT_SIGNIN_PER_ACCOUNT": "sign-in attempts for one email address, right or wrong",
    "RATELIMIT_TOKENS_PER_ACCOUNT": "API tokens issued to one person",
    "RATELIMIT_WEBHOOK_PER_ADDRESS": "Twilio webhook requests from one address, checked before the signature",
    "RATELIMIT_WEBHOOK_PER_SENDER": "inbound texts from one phone number, after the signature",
    "RATELIMIT_INCIDENTS_PER_USER": "incident and near-miss reports by one person",
    "RATELIMIT_PANIC_LADDERS_PER_USER": "fresh panic ladders (new texts) one practitioner's presses start",
}


class LimitConfigError(ValueError):
    """A limit setting is not a rate such as `10 per minute` or `10/minute;100/hour`."""


@dataclass(frozen=True)
class Exceeded:
    name: str
    retry_after: int


def parse_limit(name: str, value: object) -> list[RateLimitItem]:
    """The rates of one setting; a typo fails start-up instead of switching the limit off."""
    try:
        items = parse_many(str(value))
    except ValueError as exc:
        raise LimitConfigError(
            f"SAFETYCHECK_{name} must be rates such as '10 per minute' or '10/minute;100/hour', not {value!r}"
        ) from exc
    if not items:
        raise LimitConfigError(f"SAFETYCHECK_{name} must not be empty")
    return items


def init_app(app: Flask) -> None:
    """Give the app its own limiter, with storage from SAFETYCHECK_REDIS_URL or memory."""
    cfg = app.config
    redis_url = str(cfg.get("REDIS_URL") or "")
    cfg.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    cfg.setdefault("RATELIMIT_KEY_PREFIX", "safetycheck")
    # Moving windows: no burst of twice the limit across a window's edge.
    cfg.setdefault("RATELIMIT_STRATEGY", "moving-window")
    limiter = Limiter(get_remote_address, storage_uri=cfg["RATELIMIT_STORAGE_URI"])
    limiter.init_app(app)
    app.extensions["safetycheck.limiter"] = limiter
    app.extensions["safetycheck.limits"] = {name: parse_limit(name, cfg[name]) for name in LIMITS}
    ops.registry(app).register(LIMIT_STORAGE_ERRORS)


def limiter_for(app: Flask) -> Limiter:
    limiter: Limiter = app.extensions["safetycheck.limiter"]
    return limiter


def remote_address() -> str:
    return get_remote_address()


def hit(name: str, key: str) -> Exceeded | None:
    """Count one request against limit `name` for `key`; say how long to wait if it is over."""
    app = current_app
    if not app.config.get("RATELIMIT_ENABLED", True):
        return None
    limiter = limiter_for(app).limiter
    keys = (app.config["RATELIMIT_KEY_PREFIX"], name, key)
    try:
        for item in app.extensions["safetycheck.limits"][name]:
            if not limiter.hit(item, *keys):
                reset_at = limiter.get_window_stats(item, *keys).reset_time
                return Exceeded(name, max(1, math.ceil(reset_at - time.time())))
    except Exception:
        # Redis unreachable: let the request through rather than refuse a sign-in or lose a
        # panic because a counter is down (the sign-in lock, in the database, still holds).
        log.warning("abuse limit %s not counted: its storage is unavailable", name, exc_info=True)
        LIMIT_STORAGE_ERRORS.inc()
    return None


def enforce(name: str, key: str, message: str | None = None) -> None:
    """Count one request; over the limit, answer 429 with Retry-After (and change nothing)."""
    over = hit(name, key)
    if over is not None:
        abort(
            429,
            message=message or f"Too many requests; try again in {over.retry_after} seconds.",
            headers={"Retry-After": str(over.retry_after)},
        )


def allow(name: str, key: str) -> bool:
    """Count one event and say whether it is within the limit, never refusing the request."""
    return hit(name, key) is None


def panic_ladder_allowed(practitioner_id: int) -> bool:
    """May this practitioner's press start a fresh panic ladder? (Asked by `panic.raise_panic`;
    pages that raise a panic pass it too.)"""
    return allow("RATELIMIT_PANIC_LADDERS_PER_USER", str(practitioner_id))


def reset(app: Flask) -> None:
    """Forget every count (tests; an operator after an incident)."""
    limiter_for(app).reset()
