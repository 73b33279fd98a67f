"""Bind escalation calls to an app: the voice gateway, the calls' metrics and the `call-answer` CLI."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from safetycheck import ops
from safetycheck.escalation import call_simulate, policy, voice_gateways
from safetycheck.escalation.call_models import CallOutboxRow, CallOutcome
from safetycheck.escalation.enums import OutboxStatus
from safetycheck.extensions import db
from safetycheck.settings import ConfigError


def init_app(app: Flask) -> None:
    rules: policy.Policy = app.extensions["safetycheck.policy"]
    calls_somebody = any(step.call for ladder in rules.ladders.values() for step in ladder.steps)
    sms = app.extensions["safetycheck.sms"]
    voice = voice_gateways.build_voice_gateway(app.config, sms)
    if calls_somebody and voice.name == "twilio" and not app.config.get("PUBLIC_URL"):
        # Twilio fetches what a call says from us: it needs the address it can reach us at.
        raise ConfigError(
            "the escalation policy has call steps: SAFETYCHECK_PUBLIC_URL is required with Twilio"
        )
    app.extensions["safetycheck.voice"] = voice
    ops.add_metrics_source(app, _metrics)
    app.cli.add_command(call_simulate.call_answer)


def _metrics(app: Flask) -> list[CounterMetricFamily | GaugeMetricFamily]:
    by_outcome = dict(
        db.session.execute(
            sa.select(CallOutboxRow.outcome, sa.func.count())
            .where(CallOutboxRow.outcome.is_not(None))
            .group_by(CallOutboxRow.outcome)
        ).all()
    )
    total = CounterMetricFamily(
        "safetycheck_calls", "Escalation calls that ended, by outcome", labels=["outcome"]
    )
    for outcome in CallOutcome:
        total.add_metric([outcome.value], by_outcome.get(outcome, 0))
    in_progress = GaugeMetricFamily(
        "safetycheck_calls_in_progress", "Escalation calls waiting to be placed or still on the line"
    )
    in_progress.add_metric(
        [],
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(CallOutboxRow)
            .where(
                CallOutboxRow.outcome.is_(None),
                CallOutboxRow.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT)),
            )
        )
        or 0,
    )
    return [total, in_progress]
