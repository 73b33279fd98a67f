"""Bind the escalation engine to an app: policy, SMS gateway, health checks, metrics, CLI, sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import GaugeMetricFamily

from safetycheck import ops
from safetycheck.accounts.models import User
from safetycheck.escalation import delivery_health, gateways, policy, scheduler, simulate
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxMessage, SweepHeartbeat
from safetycheck.extensions import db
from safetycheck.settings import ConfigError
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit


def init_app(app: Flask) -> None:
    try:
        app.extensions["safetycheck.policy"] = policy.load_policy(app.config["ESCALATION_POLICY"])
    except policy.PolicyError as exc:
        raise ConfigError(f"SAFETYCHECK_ESCALATION_POLICY: {exc}") from exc
    try:
        app.extensions["safetycheck.sms"] = gateways.build_gateway(app.config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    ops.add_readiness_check(app, "sweep", _sweep_check)
    ops.add_metrics_source(app, _metrics)
    delivery_health.init_app(app)
    app.cli.add_command(scheduler.worker_command)
    app.cli.add_command(scheduler.sweep_command)
    app.cli.add_command(simulate.simulate_sms)
    if scheduler.should_start_in_process(app):
        scheduler.start_background(app)


def _now(app: Flask) -> Any:
    return app.extensions["safetycheck.clock"].now()


def _sweep_check(app: Flask) -> tuple[bool, dict[str, Any]]:
    """Ready only if some instance completed a sweep within three intervals (read from the database)."""
    last = db.session.scalar(sa.select(sa.func.max(SweepHeartbeat.completed_at)))
    limit = timedelta(seconds=3 * app.config["SWEEP_INTERVAL_SECONDS"])
    now = _now(app)
    ok = last is not None and now - last <= limit
    age = (now - last).total_seconds() if last else None
    return ok, {"ok": ok, "last_completed_at": last.isoformat() if last else None, "age_seconds": age}


def _metrics(app: Flask) -> list[GaugeMetricFamily]:
    now = _now(app)
    families = []
    beat = db.session.execute(
        sa.select(SweepHeartbeat.duration_ms, SweepHeartbeat.completed_at)
        .order_by(SweepHeartbeat.completed_at.desc().nulls_last())
        .limit(1)
    ).first()
    duration = GaugeMetricFamily(
        "safetycheck_sweep_duration_seconds", "Duration of the latest completed sweep"
    )
    age = GaugeMetricFamily("safetycheck_sweep_age_seconds", "Seconds since any instance completed a sweep")
    if beat is not None and beat.completed_at is not None:
        duration.add_metric([], (beat.duration_ms or 0) / 1000)
        age.add_metric([], (now - beat.completed_at).total_seconds())
    families += [duration, age]

    oldest = [
        db.session.scalar(
            sa.select(sa.func.min(Alarm.next_step_at)).where(
                Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at <= now
            )
        ),
        db.session.scalar(
            sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now
            )
        ),
        db.session.scalar(
            sa.select(sa.func.min(Visit.due_at)).where(
                Visit.status == VisitStatus.ACTIVE, Visit.due_at <= now
            )
        ),
    ]
    lag = GaugeMetricFamily(
        "safetycheck_oldest_due_item_age_seconds",
        "Age of the oldest deadline that has passed but not been acted on (visit, alarm step or text)",
    )
    due = [t for t in oldest if t is not None]
    lag.add_metric([], max((now - min(due)).total_seconds(), 0.0) if due else 0.0)
    families.append(lag)

    by_status = dict(
        db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    outbox_gauge = GaugeMetricFamily(
        "safetycheck_outbox_messages", "Texts in the outbox by status", labels=["status"]
    )
    for status in OutboxStatus:
        outbox_gauge.add_metric([status.value], by_status.get(status, 0))
    depth = GaugeMetricFamily("safetycheck_outbox_depth", "Texts waiting to be sent (pending or sending)")
    depth.add_metric([], by_status.get(OutboxStatus.PENDING, 0) + by_status.get(OutboxStatus.SENDING, 0))
    failures = GaugeMetricFamily(
        "safetycheck_delivery_failures", "Texts that failed or could not be delivered", labels=["status"]
    )
    for status in (OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE):
        failures.add_metric([status.value], by_status.get(status, 0))
    families += [outbox_gauge, depth, failures]

    open_alarms = GaugeMetricFamily(
        "safetycheck_alarms_open", "Alarms nobody has acknowledged yet", labels=["kind"]
    )
    open_query = sa.select(Alarm.kind, sa.func.count()).where(Alarm.status == AlarmStatus.OPEN)
    open_by_kind = dict(db.session.execute(open_query.group_by(Alarm.kind)).all())
    # Every kind, zeros included: a series that vanishes when nothing is open reads as "no data"
    # on a dashboard and in alert rules, not as 0.
    for kind in AlarmKind:
        open_alarms.add_metric([kind.value], open_by_kind.get(kind, 0))
    families.append(open_alarms)
    dead = GaugeMetricFamily(
        "safetycheck_undeliverable_contacts", "Users whose phone Twilio refused (fix the number)"
    )
    dead.add_metric(
        [], db.session.scalar(sa.select(sa.func.count()).where(User.phone_undeliverable_at.is_not(None))) or 0
    )
    families.append(dead)
    return families
