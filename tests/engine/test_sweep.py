"""The sweep engine: parts in their declared order, each in its own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from safetycheck.engine import parts
from safetycheck.engine.sweep import run_sweep

ORDER = [
    "visits.mark_overdue",
    "visits.remind",
    "escalation.advance_steps",
    "accounts.purge_signin_records",
    "escalation.rota_gaps",
    "escalation.rota_handover",
    "incidents.remind_overdue_steps",
    "incidents.expire_markers",
    "incidents.remind_marker_reviews",
    "incidents.reassess_riddor",
    "incidents.retention",
    "escalation.check_cover",
    "escalation.drain_outbox",
    "escalation.drain_calls",
    "reporting.rollups",  # after delivery: a month's rebuild never holds back a text
]


def test_parts_run_in_the_declared_order(app: Flask) -> None:
    assert [part.name for part in parts.registered_parts()] == ORDER  # as docs/architecture.md says
    report = run_sweep(app)
    assert list(report.done) == ORDER
    assert not report.errors


def test_a_failing_part_is_rolled_back_and_the_others_still_run(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(session: Any, now: datetime) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(
        parts._PARTS, "test.broken", parts.SweepPart(name="test.broken", run=broken, stage=parts.ESCALATION)
    )
    report = run_sweep(app)
    assert report.errors == ["test.broken: RuntimeError"]
    assert "escalation.drain_outbox" in report.done  # delivery still ran after the broken part
    assert "test.broken" not in report.done


def test_a_batched_part_is_called_again_while_its_batches_are_full(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def backlog(session: Any, now: datetime) -> int:
        calls.append(1)
        return 2 if len(calls) < 3 else 1  # two full batches of 2, then a short one

    monkeypatch.setitem(
        parts._PARTS,
        "test.backlog",
        parts.SweepPart(name="test.backlog", run=backlog, stage=parts.PERIODIC, batch=2),
    )
    report = run_sweep(app)
    assert len(calls) == 3
    assert report.done["test.backlog"] == 5
