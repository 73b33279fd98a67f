"""What escalation needs from the app (policy, SMS gateway, clock, zone), gathered once per use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from flask import Flask, current_app

from safetycheck import localtime
from safetycheck.escalation import gateways, outbox, policy


@dataclass
class Escalation:
    rules: policy.Policy
    tz: tzinfo
    gateway: gateways.SmsGateway
    status_callback: str | None
    now: Callable[[], datetime]
    # How long a text may stay claimed ("sending") before it counts as its sender's death.
    stale_claim: timedelta = outbox.STALE_CLAIM
    # How long after restamping a claim a sender may still start sending on it: the stale
    # threshold less the gateway's hard timeout (see claim_lease).
    send_budget: timedelta = outbox.STALE_CLAIM / 2


def escalation_for(app: Flask) -> Escalation:
    public = app.config.get("PUBLIC_URL") or ""
    return Escalation(
        rules=app.extensions["safetycheck.policy"],
        tz=localtime.zone(app),
        gateway=app.extensions["safetycheck.sms"],
        status_callback=f"{public}/twilio/status" if public else None,
        now=app.extensions["safetycheck.clock"].now,
        stale_claim=timedelta(seconds=app.config.get("OUTBOX_STALE_CLAIM_SECONDS", 60)),
        send_budget=send_budget(app),
    )


def send_budget(app: Flask) -> timedelta:
    """The stale threshold less the gateway's hard timeout (positive: the settings insist)."""
    stale = float(app.config.get("OUTBOX_STALE_CLAIM_SECONDS", 60))
    timeout = float(app.config.get("TWILIO_TIMEOUT_SECONDS") or 10)
    return timedelta(seconds=max(stale - timeout, 0.0))


def current() -> Escalation:
    """The current app's escalation settings (for sweep parts and event subscribers)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return escalation_for(app)
