"""The procedure's calendar follows the settings: the nation's bank holidays, the service's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from safetycheck import localtime as calendar
from tests.incidents.helpers import report


def acknowledged_at(as_user, org, clock, moment: datetime) -> dict:
    clock.set(moment)
    incident = report(as_user(org.practitioner), clock)
    answer = as_user(org.manager).post(f"/api/v1/incidents/{incident['id']}/acknowledge", json={})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_the_triage_target_skips_christmas_and_boxing_day(as_user, org, clock):
    acknowledged = acknowledged_at(as_user, org, clock, datetime(2026, 12, 23, 9, 0, tzinfo=UTC))
    # Two working days: Thursday 24th, then Tuesday 29th (Friday 25th and Monday 28th are off).
    assert acknowledged["step_due_at"] == "2026-12-29T09:00:00+00:00"


def test_a_service_in_scotland_also_skips_the_second_of_january(as_user, org, clock, app, monkeypatch):
    monkeypatch.setitem(app.config, "BANK_HOLIDAYS", "SCT")
    acknowledged = acknowledged_at(as_user, org, clock, datetime(2025, 12, 31, 9, 0, tzinfo=UTC))
    assert acknowledged["step_due_at"] == "2026-01-06T09:00:00+00:00"  # England's would be the 5th


def test_local_days_are_the_days_of_the_display_timezone(app, monkeypatch):
    monkeypatch.setitem(app.config, "DISPLAY_TIMEZONE", "Pacific/Auckland")
    evening_in_london = datetime(2026, 6, 9, 13, 0, tzinfo=UTC)  # 01:00 on 10 June in Auckland
    with app.app_context():
        assert calendar.local_date(evening_in_london) == date(2026, 6, 10)
        assert calendar.start_of_local_day(date(2026, 6, 10)) == datetime(2026, 6, 9, 12, 0, tzinfo=UTC)
        assert calendar.short_time(evening_in_london) == "01:00 Wed 10 Jun"
    assert calendar.local_date(evening_in_london) == date(2026, 6, 9)  # outside an app: Europe/London
