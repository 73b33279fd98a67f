"""The service watches itself: /readyz follows the sweep's heartbeat, /metrics shows the backlog."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from safetycheck.engine.models import SweepHeartbeat
from safetycheck.escalation.enums import AlarmKind
from tests.escalation import helpers as h


def metrics(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape /metrics into {(sample name, sorted labels): value}."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- /readyz --------------------------------------------------------------------------------


def test_not_ready_before_any_sweep_has_completed(client):
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["sweep"] == {"ok": False, "last_completed_at": None, "age_seconds": None}


def test_ready_after_a_sweep_until_three_intervals_have_passed(app, client, clock, sweep):
    interval = app.config["SWEEP_INTERVAL_SECONDS"]
    swept_at = clock.now()
    sweep()

    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["checks"]["sweep"] == {
        "ok": True,
        "last_completed_at": swept_at.isoformat(),
        "age_seconds": 0.0,
    }

    h.move_to(clock, swept_at, seconds=3 * interval)
    assert client.get("/readyz").status_code == 200
    h.move_to(clock, swept_at, seconds=3 * interval + 1)
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.get_json()["checks"]["sweep"]["age_seconds"] == 3 * interval + 1

    sweep()
    assert client.get("/readyz").status_code == 200


def test_readiness_reads_the_newest_heartbeat_of_any_instance(app, client, clock, sweep):
    """A web-only instance never sweeps; it is ready when another instance has swept recently."""
    with h.session(app) as s:
        s.add(SweepHeartbeat(instance="worker-elsewhere:1", started_at=clock.now(), completed_at=clock.now()))
        s.commit()
    assert client.get("/readyz").status_code == 200
    clock.advance(minutes=1)
    assert client.get("/readyz").status_code == 503


# --- /metrics -------------------------------------------------------------------------------


def test_an_overdue_visit_not_yet_swept_shows_as_a_growing_due_item_age(
    app, client, clock, org, as_user, console_sms, sweep
):
    visit = h.check_in(as_user(org.practitioner), minutes=30)
    assert metric(metrics(client), "safetycheck_oldest_due_item_age_seconds") == 0

    h.move_to(clock, h.due_at(visit), seconds=90)  # the sweep has stopped
    assert metric(metrics(client), "safetycheck_oldest_due_item_age_seconds") == 90
    clock.advance(seconds=30)
    assert metric(metrics(client), "safetycheck_oldest_due_item_age_seconds") == 120

    sweep()
    assert metric(metrics(client), "safetycheck_oldest_due_item_age_seconds") == 0


def test_metrics_show_sweep_duration_outbox_depth_failures_and_open_alarms(
    app, client, clock, org, as_user, fake_twilio, sweep
):
    worker = as_user(org.practitioner)
    visit = h.check_in(worker, minutes=30)
    swept_at = h.move_to(clock, h.due_at(visit))
    sweep()  # the worker's text goes
    sent = h.only_row(app, visit_id=visit["id"])
    h.deliver_status(app, fake_twilio, sent.sid, "failed", 30007)  # a carrier refused it

    fake_twilio.fail_next(1, 500)  # the manager's text (sent first) must wait for a retry
    fake_twilio.refuse_number(org.on_call.phone, 21211)
    swept_at = h.move_to(clock, h.due_at(visit), minutes=10)
    sweep()
    assert worker.post("/api/v1/alarms", json={"kind": "panic"}).status_code == 201

    samples = metrics(client)
    assert metric(samples, "safetycheck_outbox_depth") == 1
    assert metric(samples, "safetycheck_outbox_messages", status="pending") == 1
    assert metric(samples, "safetycheck_delivery_failures", status="failed") == 1
    assert metric(samples, "safetycheck_delivery_failures", status="undeliverable") == 1
    assert metric(samples, "safetycheck_undeliverable_contacts") == 1
    assert metric(samples, "safetycheck_alarms_open", kind="overdue") == 1
    assert metric(samples, "safetycheck_alarms_open", kind="panic") == 1
    assert metric(samples, "safetycheck_alarms_open", kind="duress") == 0

    with h.session(app) as s:
        [beat] = s.scalars(sa.select(SweepHeartbeat)).all()
        duration_ms = beat.duration_ms
    assert duration_ms > 0
    assert metric(samples, "safetycheck_sweep_duration_seconds") == pytest.approx(duration_ms / 1000)
    assert metric(samples, "safetycheck_sweep_age_seconds") == (clock.now() - swept_at).total_seconds()

    clock.advance(seconds=2)  # the retry and the panic alarm's first step
    sweep()
    samples = metrics(client)
    assert metric(samples, "safetycheck_outbox_depth") == 0
    assert metric(samples, "safetycheck_oldest_due_item_age_seconds") == 0


def test_open_alarms_are_exported_per_kind_even_when_none_is_open(client, org):
    # A series that vanishes when all is well reads as "no data" on a dashboard, not as 0.
    samples = metrics(client)
    for kind in AlarmKind:
        assert metric(samples, "safetycheck_alarms_open", kind=kind.value) == 0
