"""Migration 0009 backfills `sms_outbox.urgency` from each row's purpose and alarm, and keeps
migration 0008's guard on what an outbox row recorded (a table copy on SQLite would drop it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.escalation.urgency import Urgency
from safetycheck.extensions import db
from tests.escalation.harness import scratch_database

pytestmark = pytest.mark.real_commits

NOW = "2026-03-02 09:00:00"


@pytest.fixture
def at_0008(tmp_path: Path) -> Iterator[Flask]:
    with scratch_database(os.environ.get("SAFETYCHECK_TEST_DATABASE_URL"), tmp_path, "urgency") as url:
        app = create_app(
            {"TESTING": True, "DATABASE_URL": url, "SCHEDULER_ENABLED": False, "SECRET_KEY": "x"}
        )
        result = app.test_cli_runner().invoke(args=["db", "upgrade", "0008"])
        assert result.exit_code == 0, result.output
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _run(sql: str, **params: object) -> None:
    db.session.execute(sa.text(sql), params)


def test_0009_backfills_urgency_from_purpose_and_alarm(at_0008: Flask) -> None:
    with at_0008.app_context():
        for n in (1, 2):
            _run(
                "INSERT INTO users (id, name, email, phone, role, password_hash, created_at) "
                "VALUES (:id, :name, :email, :phone, 'practitioner', 'x', :now)",
                id=n,
                name=f"User {n}",
                email=f"u{n}@example.test",
                phone=f"+44770090060{n}",
                now=NOW,
            )
        for alarm_id, kind in ((1, "panic"), (2, "overdue"), (3, "duress")):
            _run(
                "INSERT INTO alarms (id, kind, status, code, practitioner_id, raised_at, origin_at, "
                "executed_steps) VALUES (:id, :kind, 'open', :code, 1, :now, :now, 0)",
                id=alarm_id,
                kind=kind,
                code=f"C{alarm_id}",
                now=NOW,
            )
        texts = {
            "panic-to-manager": ("escalation", 1, 2, Urgency.PANIC),
            "duress-to-manager": ("escalation", 3, 2, Urgency.PANIC),
            "overdue-to-manager": ("escalation", 2, 2, Urgency.ESCALATION),
            "overdue-to-worker": ("escalation", 2, 1, Urgency.PRACTITIONER),
            "reply": ("reply", None, 1, Urgency.PRACTITIONER),
            "reminder": ("reminder", None, 1, Urgency.NOTICE),
            "stand-down": ("stand_down", 2, 2, Urgency.NOTICE),
        }
        for key, (purpose, alarm_id, recipient, _) in texts.items():
            _run(
                "INSERT INTO sms_outbox (dedupe_key, purpose, to_phone, recipient_id, alarm_id, body, "
                "status, created_at, attempts) VALUES (:key, :purpose, '+447700900601', :recipient, "
                ":alarm, 'words', 'pending', :now, 0)",
                key=key,
                purpose=purpose,
                recipient=recipient,
                alarm=alarm_id,
                now=NOW,
            )
        db.session.commit()

    result = at_0008.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output

    with at_0008.app_context():
        stored = dict(db.session.execute(sa.text("SELECT dedupe_key, urgency FROM sms_outbox")).all())
        assert stored == {key: int(urgency) for key, (*_, urgency) in texts.items()}
        with pytest.raises(sa.exc.DatabaseError):  # 0008's guard is still there
            _run("UPDATE sms_outbox SET body = 'rewritten' WHERE dedupe_key = 'reminder'")
        db.session.rollback()
