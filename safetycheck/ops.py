"""Readiness and metrics: the service watches itself (design principle 6)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from safetycheck.extensions import db

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[Flask], tuple[bool, dict[str, Any]]]
# Gauges mostly; a Sequence so a source may return counters too (safetycheck_calls_total).
MetricsSource = Callable[[Flask], Sequence[Metric]]


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def _database_check(app: Flask) -> tuple[bool, dict[str, Any]]:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return True, {"ok": True}
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        return False, {"ok": False, "error": type(exc).__name__}


def init_app(app: Flask) -> None:
    """Set up the per-app check list and metrics registry (one per app keeps tests independent)."""
    app.extensions["safetycheck.readiness_checks"] = {"database": _database_check}
    app.extensions["safetycheck.metrics_sources"] = []
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_AppCollector(app))
    app.extensions["safetycheck.metrics_registry"] = registry


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    app.extensions["safetycheck.readiness_checks"][name] = check


def add_metrics_source(app: Flask, source: MetricsSource) -> None:
    app.extensions["safetycheck.metrics_sources"].append(source)


def registry(app: Flask) -> CollectorRegistry:
    found: CollectorRegistry = app.extensions["safetycheck.metrics_registry"]
    return found


def readiness(app: Flask) -> Readiness:
    """Run every check; one that fails or raises makes the service not ready (503, never a 500)."""
    report = Readiness(ready=True)
    for name, check in app.extensions["safetycheck.readiness_checks"].items():
        try:
            ok, detail = check(app)
        except sa.exc.SQLAlchemyError as exc:
            # e.g. a table the check reads is missing because `db upgrade` has not run yet.
            log.warning("readiness check %s failed: %s", name, exc)
            db.session.rollback()
            ok, detail = False, {"ok": False, "error": type(exc).__name__}
        report.checks[name] = detail
        report.ready = report.ready and ok
        if name == "database" and not ok:
            break  # nothing else can be read without the database
    return report


def render_metrics(app: Flask) -> tuple[bytes, str]:
    return generate_latest(registry(app)), CONTENT_TYPE_LATEST


class _AppCollector:
    """Reads gauges from the database at scrape time, so every instance reports the same truth."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        for source in self.app.extensions["safetycheck.metrics_sources"]:
            try:
                yield from source(self.app)
            except sa.exc.SQLAlchemyError:
                db.session.rollback()
