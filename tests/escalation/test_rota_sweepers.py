"""Two sweepers at once, each an app of its own on one database (SQLite file or PostgreSQL): the
person whose turn starts is texted exactly once, and a gap is flagged to the admin exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
import sqlalchemy as sa

from safetycheck.accounts import rota_service
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.rota_models import ShiftUnit
from safetycheck.clock import FrozenClock
from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from tests.escalation.harness import FINITE_POLICY, open_app, scratch_database, write_policy

pytestmark = [pytest.mark.real_commits]

MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NIGHTS = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "17:00", "until": "09:00"}]


def test_two_sweepers_text_a_turn_and_a_gap_once(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock(MONDAY_NOON)
    policy_path = write_policy(tmp_path, FINITE_POLICY)
    with (
        scratch_database(database_url, tmp_path, "rota") as url,
        open_app(url, policy_path, clock=clock) as one,
    ):
        with one.app_context():
            team = account_service.create_team(name="Eastside", now=clock.now())
            people = [
                account_service.create_user(
                    name=name,
                    email=f"{name.lower()}@example.test",
                    phone=f"+4477009002{n:02d}",
                    role=role,
                    team_id=team.id if role == Role.MANAGER else None,
                    password="a long password",
                    now=clock.now(),
                )
                for n, (name, role) in enumerate(
                    [("Day", Role.MANAGER), ("Night", Role.MANAGER), ("Ada", Role.ADMIN)]
                )
            ]
            day, night, admin = (p.id for p in people)
            rota_service.create_rotation(
                name="Days",
                team_id=team.id,
                layer_id=None,
                handover_time=time(9),
                shift_length=1,
                shift_unit=ShiftUnit.WEEKS,
                starts_on=date(2026, 3, 3),
                member_ids=[day],
                now=clock.now(),
            )
            layer = rota_service.create_layer(name="Nights", priority=10, windows=NIGHTS, now=clock.now())
            rota_service.create_rotation(
                name="Nights",
                team_id=team.id,
                layer_id=layer.id,
                handover_time=time(17),
                shift_length=1,
                shift_unit=ShiftUnit.DAYS,
                starts_on=date(2026, 3, 2),
                member_ids=[night],
                now=clock.now(),
            )
            account_service.set_on_call(admin, on_call=False)
            db.session.commit()
        with open_app(url, policy_path, clock=clock) as two:
            for moment in (MONDAY_NOON, MONDAY_NOON.replace(hour=17), MONDAY_NOON.replace(hour=17, minute=1)):
                clock.set(moment)
                errors: list[object] = []
                start = threading.Barrier(2)

                def sweep(app, start=start, errors=errors) -> None:  # type: ignore[no-untyped-def]
                    start.wait()
                    errors.extend(run_sweep(app).errors)

                threads = [threading.Thread(target=sweep, args=(app,)) for app in (one, two)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=60)
                assert errors == []
        with one.app_context():
            rows = db.session.execute(
                sa.select(OutboxMessage.dedupe_key, OutboxMessage.recipient_id).where(
                    OutboxMessage.purpose == MessagePurpose.ROTA
                )
            ).all()
    keys = sorted(key for key, _ in rows)
    assert len(keys) == len(set(keys))
    # Days start on Tuesday, so Monday by day has nobody: the admin hears of it once; Night hears
    # of their turn at 17:00 once; Day's turn has not begun.
    assert sorted(r for _, r in rows) == sorted([night, admin])
    assert day not in {r for _, r in rows}
    assert any(key.startswith("rota:gap:team:") for key in keys)
