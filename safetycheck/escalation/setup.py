"""Bind escalation to an app: policy, SMS gateway, its metrics, its CLI, its event subscriptions.

Its sweep parts (`sweep_parts.py`) register themselves with the engine when imported.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import GaugeMetricFamily

from safetycheck import ops
from safetycheck.accounts.models import User
from safetycheck.escalation import (
    bundling,
    call_setup,
    coverage,
    coverage_jobs,
    delivery_health,
    gateways,
    in_transaction,
    policy,
    simulate,
    subscribers,
)
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.settings import ConfigError


def init_app(app: Flask) -> None:
    try:
        app.extensions["safetycheck.policy"] = policy.load_policy(app.config["ESCALATION_POLICY"])
    except policy.PolicyError as exc:
        raise ConfigError(f"SAFETYCHECK_ESCALATION_POLICY: {exc}") from exc
    try:
        app.extensions["safetycheck.sms"] = gateways.build_gateway(app.config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    ops.add_metrics_source(app, _metrics)
    delivery_health.init_app(app)
    app.cli.add_command(simulate.simulate_sms)
    subscribers.subscribe()
    call_setup.init_app(app)
    coverage.subscribe()  # a check-in whose ladder reaches nobody carries a warning
    ops.add_metrics_source(app, coverage_jobs.metrics)
    bundling.install()
    in_transaction.install()


def _now(app: Flask) -> Any:
    return app.extensions["safetycheck.clock"].now()


def _metrics(app: Flask) -> list[GaugeMetricFamily]:
    families = []
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
