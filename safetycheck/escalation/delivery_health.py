"""Whether texts are leaving: shown on /readyz and /metrics, without failing readiness.

A Twilio outage must be loud, but it must not take the service out of its load balancer: the
pages (check-in, panic, the board) keep working and every text waits in the outbox for Twilio
to come back. So /readyz reports an `sms` check whose `texts_leaving` turns false while the
newest attempt at a text failed, and whose `ok` stays true; alert on the metrics instead:
`safetycheck_sms_texts_leaving` (0 during an outage), `safetycheck_outbox_retrying` and
`safetycheck_outbox_oldest_waiting_seconds`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import GaugeMetricFamily

from safetycheck import ops
from safetycheck.escalation.enums import OutboxStatus
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db

_WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def init_app(app: Flask) -> None:
    ops.add_readiness_check(app, "sms", _sms_check)
    ops.add_metrics_source(app, _metrics)


def _state(app: Flask) -> dict[str, Any]:
    now: datetime = app.extensions["safetycheck.clock"].now()
    oldest = db.session.scalar(
        sa.select(sa.func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(_WAITING))
    )
    waiting = db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.status.in_(_WAITING))) or 0
    failed_again = (
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.attempts > 0,
        OutboxMessage.error_message.is_not(None),
    )
    retrying = db.session.scalar(sa.select(sa.func.count()).where(*failed_again)) or 0
    # A waiting text's claimed_at is when its last (failed) attempt began.
    last_failure = db.session.scalar(sa.select(sa.func.max(OutboxMessage.claimed_at)).where(*failed_again))
    last_sent = db.session.scalar(sa.select(sa.func.max(OutboxMessage.sent_at)))
    leaving = last_failure is None or (last_sent is not None and last_sent >= last_failure)
    return {
        "texts_leaving": leaving,
        "waiting": int(waiting),
        "retrying": int(retrying),
        "oldest_waiting_seconds": max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        "last_sent_at": last_sent.isoformat() if last_sent else None,
        "last_failure_at": last_failure.isoformat() if last_failure else None,
    }


def _sms_check(app: Flask) -> tuple[bool, dict[str, Any]]:
    """Never fails readiness: texts wait in the outbox, and the pages must stay reachable."""
    return True, {"ok": True, **_state(app)}


def _metrics(app: Flask) -> list[GaugeMetricFamily]:
    state = _state(app)
    leaving = GaugeMetricFamily(
        "safetycheck_sms_texts_leaving", "1 unless the newest attempt at a text failed (Twilio outage)"
    )
    leaving.add_metric([], 1 if state["texts_leaving"] else 0)
    retrying = GaugeMetricFamily(
        "safetycheck_outbox_retrying", "Texts waiting to be tried again after failing"
    )
    retrying.add_metric([], state["retrying"])
    oldest = GaugeMetricFamily(
        "safetycheck_outbox_oldest_waiting_seconds", "Age of the oldest text not yet sent (0 when none waits)"
    )
    oldest.add_metric([], state["oldest_waiting_seconds"])
    return [leaving, retrying, oldest]
