"""Shared steps for the incident tests: report through the API, read the outbox and the register."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from safetycheck.incidents.models import Incident

ADDRESS = "12 High Street, Leeds LS1 4AP"
SAME_HOME_TYPED_FAST = "12 high st ls14ap"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def report_body(clock: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "occurred_at": iso(clock.now() - timedelta(minutes=10)),
        "category": "verbal_abuse",
        "description": "Shouted at and sworn at on the doorstep by the father.",
        "near_miss": False,
        "harmed": False,
        "address": ADDRESS,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def report(api: Any, clock: Any, **overrides: Any) -> dict[str, Any]:
    response = api.post("/api/v1/incidents", json=report_body(clock, **overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def texts(app: Any, *, to: Any = None, purpose: MessagePurpose | None = MessagePurpose.INCIDENT) -> list[str]:
    """Bodies in the outbox, oldest first, optionally for one recipient and purpose."""
    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if to is not None:
            query = query.where(OutboxMessage.recipient_id == to.id)
        if purpose is not None:
            query = query.where(OutboxMessage.purpose == purpose)
        return [m.body for m in db.session.scalars(query)]


def outbox_count(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) or 0


def incident_count(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) or 0


def events(detail: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in detail["timeline"]]


def advance_to(api: Any, incident_id: int, status: str, clock: Any, lead: Any = None) -> dict[str, Any]:
    """Walk an incident along the procedure as its manager (and lead for review steps)."""
    steps = {
        "acknowledged": ("acknowledge", {}),
        "triaged": (
            "triage",
            {
                "harm": "psychological",
                "consequence": 2,
                "likelihood": 3,
                "investigation_level": "manager_review",
            },
        ),
        "under_investigation": ("transition", {"to": "under_investigation"}),
    }
    order = ["acknowledged", "triaged", "under_investigation"]
    result: dict[str, Any] = {}
    for name in order[: order.index(status) + 1]:
        path, body = steps[name]
        response = api.post(f"/api/v1/incidents/{incident_id}/{path}", json=body)
        assert response.status_code == 200, response.get_json()
        result = response.get_json()
    return result
