"""Small helpers for the escalation tests: check in through the API, read rows back fresh.

Rows are read in a fresh app context each time, so what a test sees is what the sweep and the
views committed (to the test's outer transaction), never a stale object from an earlier read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.escalation import context, sweep_parts
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.models import Alarm, AlarmRecipient, OutboxMessage
from safetycheck.extensions import db
from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits.models import Visit
from tests import factories

ADDRESS = "14 Acacia Avenue, Leeds LS6 2AB"
LOCATION = {"lat": 53.81234, "lon": -1.56789, "accuracy_m": 12.0}
MAPS_LINK = "https://maps.google.com/?q=53.81234,-1.56789"
STATUS_CALLBACK = "http://safetycheck.test/twilio/status"


@contextmanager
def session(app: Flask) -> Iterator[Any]:
    """A fresh app context and its session, for reading (or seeding) rows."""
    with app.app_context():
        yield db.session
        db.session.remove()


def check_in(api: Any, *, minutes: int = 30, address: str = ADDRESS, **extra: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/visits", json={"address": address, "duration_minutes": minutes, **extra})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def bodies_to(sms: Any, phone: str) -> list[str]:
    """What the console gateway sent to one phone, oldest first."""
    return [m.body for m in sms.sent if m.to == phone]


def phones_texted(sms: Any, since: int = 0) -> list[str]:
    """The phones of the texts sent after the first `since` ones, sorted (duplicates kept)."""
    return sorted(m.to for m in sms.sent[since:])


def alarm(app: Flask, alarm_id: int) -> Alarm:
    with session(app) as s:
        row = s.get(Alarm, alarm_id)
        assert row is not None
        s.expunge(row)
        return row


def alarms_for_visit(app: Flask, visit_id: int) -> list[Alarm]:
    with session(app) as s:
        rows = list(s.scalars(sa.select(Alarm).where(Alarm.visit_id == visit_id).order_by(Alarm.id)))
        s.expunge_all()
        return rows


def only_alarm(app: Flask, visit_id: int) -> Alarm:
    [row] = alarms_for_visit(app, visit_id)
    return row


def visit(app: Flask, visit_id: int) -> Visit:
    with session(app) as s:
        row = s.get(Visit, visit_id)
        assert row is not None
        s.expunge(row)
        return row


def user(app: Flask, user_id: int) -> User:
    with session(app) as s:
        row = s.get(User, user_id)
        assert row is not None
        s.expunge(row)
        return row


def outbox(app: Flask, **where: Any) -> list[OutboxMessage]:
    """Outbox rows matching column == value filters, in id order."""
    with session(app) as s:
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        rows = list(s.scalars(query))
        s.expunge_all()
        return rows


def escalations(app: Flask, alarm_id: int) -> list[OutboxMessage]:
    return outbox(app, alarm_id=alarm_id, purpose=MessagePurpose.ESCALATION)


def count(app: Flask, model: type) -> int:
    with session(app) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def recipients(app: Flask, alarm_id: int) -> set[int]:
    with session(app) as s:
        return set(s.scalars(sa.select(AlarmRecipient.user_id).where(AlarmRecipient.alarm_id == alarm_id)))


def timeline(app: Flask, subject_type: str, subject_id: int, event: str | None = None) -> list[TimelineEntry]:
    with session(app) as s:
        query = sa.select(TimelineEntry).where(
            TimelineEntry.subject_type == subject_type, TimelineEntry.subject_id == subject_id
        )
        if event is not None:
            query = query.where(TimelineEntry.event == event)
        rows = list(s.scalars(query.order_by(TimelineEntry.id)))
        s.expunge_all()
        return rows


def make_duty_officer(app: Flask, org: factories.Org, *, now: Any) -> User:
    """An on-call contact outside the practitioner's team, so `on_call` differs from `team_managers`.

    (The `org` fixture's on-call person is also one of the team's managers.)
    """
    with app.app_context():
        duty = factories.make_user(
            now=now, role=Role.MANAGER, team=org.other_team, on_call=True, name="Dana Duty"
        )
        factories.loaded(duty)
        return duty


def open_alarm_list(api: Any) -> list[dict[str, Any]]:
    answer = api.get("/api/v1/alarms?status=open")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["items"]


def due_at(visit_json: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(visit_json["due_at"])


def move_to(clock: Any, moment: datetime, **after: float) -> datetime:
    """Set the frozen clock to `moment` plus an offset (minutes=10, seconds=5)."""
    clock.set(moment + timedelta(**after))
    return clock.now()


def only_row(app: Any, **where: Any) -> Any:
    [row] = outbox(app, **where)
    return row


def deliver_status(app: Any, fake: Any, sid: str, status: str, error_code: int | None = None) -> None:
    """Move a text to `status` at the fake and hand Twilio's callback fields to the engine.

    The engine's entry point is called directly: the app has no POST /twilio/status route yet.
    """
    callback = fake.prepare_status_callback(sid, status, error_code)
    assert callback.url == STATUS_CALLBACK
    with app.app_context():
        known = sweep_parts.apply_delivery_status(
            context.escalation_for(app),
            sid=callback.params["MessageSid"],
            status=callback.params["MessageStatus"],
            error_code=int(callback.params["ErrorCode"]) if "ErrorCode" in callback.params else None,
        )
        db.session.commit()
    assert known
