"""Bind the sweep engine to an app: readiness, its own metrics, the worker and sweep commands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import GaugeMetricFamily

from safetycheck import ops
from safetycheck.engine import scheduler, sweep
from safetycheck.engine.models import SweepHeartbeat
from safetycheck.engine.parts import registered_parts
from safetycheck.extensions import db


def init_app(app: Flask) -> None:
    """Call last in the factory: the in-process scheduler may start sweeping at once."""
    ops.add_readiness_check(app, "sweep", _sweep_check)
    ops.add_metrics_source(app, _metrics)
    app.cli.add_command(scheduler.worker_command)
    app.cli.add_command(scheduler.sweep_command)
    if scheduler.should_start_in_process(app):
        scheduler.start_background(app)


def _now(app: Flask) -> datetime:
    now: datetime = app.extensions["safetycheck.clock"].now()
    return now


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
    lag = GaugeMetricFamily(
        "safetycheck_oldest_due_item_age_seconds",
        "Age of the oldest deadline that has passed but not been acted on (visit, alarm step or text)",
    )
    oldest = sweep.oldest_due(now)
    lag.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
    # Per part, from this process's latest sweep (a web process that does not sweep has none).
    items = GaugeMetricFamily(
        "safetycheck_sweep_part_items",
        "What each sweep part did in this process's latest sweep",
        labels=["part"],
    )
    seconds = GaugeMetricFamily(
        "safetycheck_sweep_part_seconds",
        "How long each sweep part took in this process's latest sweep",
        labels=["part"],
    )
    latest = sweep.LATEST.get("sweep")
    if latest is not None:
        for part in registered_parts():
            items.add_metric([part.name], latest.done.get(part.name, 0))
            seconds.add_metric([part.name], latest.seconds.get(part.name, 0.0))
    return [duration, age, lag, items, seconds]
