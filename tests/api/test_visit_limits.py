"""The longest a visit may last: extensions stop at a ceiling from check-in, by API and by text.

Repeated extensions once pushed a visit to 16 h 45 after check-in, past the 12-hour maximum of a
check-in; and a due time five seconds ahead was accepted while `duration_minutes` must be >= 1.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits.models import Visit
from tests.assertions import assert_error, count
from tests.escalation.test_sms_commands import inbound, reply_text

VISITS = "/api/v1/visits"
ADDRESS = "12 Acacia Avenue, Leeds LS1 4AB"


@pytest.fixture
def priya(as_user, org):
    return as_user(org.practitioner)


def check_in(api, minutes: int) -> dict:
    response = api.post(VISITS, json={"address": ADDRESS, "duration_minutes": minutes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def extend(api, visit: dict, minutes: int):
    return api.post(f"{VISITS}/{visit['id']}/extend", json={"minutes": minutes})


def due_after_check_in(api, visit: dict) -> timedelta:
    shown = api.get(f"{VISITS}/{visit['id']}").get_json()
    return datetime.fromisoformat(shown["due_at"]) - datetime.fromisoformat(shown["checked_in_at"])


def test_repeated_extensions_stop_at_twelve_hours_from_check_in(priya, app) -> None:
    visit = check_in(priya, 60)
    for _ in range(2):
        assert extend(priya, visit, 240).status_code == 200  # 5 h, then 9 h
    before = (count(app, TimelineEntry), due_after_check_in(priya, visit))

    refused = extend(priya, visit, 240)

    body = assert_error(refused, 422, "minutes")
    assert body["errors"]["minutes"] == [
        "A visit may last at most 720 minutes (12 hours) from check-in: at most 180 more minutes "
        "can be added."
    ]
    assert (count(app, TimelineEntry), due_after_check_in(priya, visit)) == before
    assert extend(priya, visit, 180).status_code == 200
    assert due_after_check_in(priya, visit) == timedelta(hours=12)
    at_the_end = assert_error(extend(priya, visit, 1), 422, "minutes")
    assert "reached the longest a visit may last, 720 minutes (12 hours)" in at_the_end["message"]
    assert "check in again" in at_the_end["message"]


def test_an_overdue_visit_is_extended_from_now_within_the_same_ceiling(
    priya, clock, sweep, console_sms
) -> None:
    visit = check_in(priya, 700)
    clock.advance(minutes=705)
    sweep()
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["status"] == "overdue"

    refused = assert_error(extend(priya, visit, 30), 422, "minutes")
    assert "at most 15 more minutes" in refused["errors"]["minutes"][0]
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["status"] == "overdue"  # the alarm stands
    assert extend(priya, visit, 15).status_code == 200


def test_the_ceiling_is_a_setting(priya, app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "MAX_VISIT_TOTAL_MINUTES", 600)
    visit = check_in(priya, 500)

    body = assert_error(extend(priya, visit, 120), 422, "minutes")
    assert body["errors"]["minutes"] == [
        "A visit may last at most 600 minutes (10 hours) from check-in: at most 100 more minutes "
        "can be added."
    ]


@pytest.mark.parametrize(("seconds", "status"), [(5, 422), (59, 422), (60, 201), (61, 201)])
def test_an_expected_end_is_at_least_a_minute_ahead_like_duration_minutes(priya, app, clock, seconds, status):
    end = (clock.now() + timedelta(seconds=seconds)).isoformat()
    response = priya.post(VISITS, json={"address": ADDRESS, "expected_end": end})
    if status == 201:
        assert response.status_code == 201
        return
    body = assert_error(response, 422, "expected_end")
    assert body["errors"]["expected_end"] == [
        "Must be at least one minute from now (as duration_minutes >= 1)."
    ]
    assert count(app, Visit) == 0


# --- the same ceiling by text --------------------------------------------------------------------


def test_ext_by_text_says_the_limit_and_changes_nothing(priya, client, app, org) -> None:
    visit = check_in(priya, 600)
    before = due_after_check_in(priya, visit)

    reply = reply_text(inbound(client, app, from_phone=org.practitioner.phone, body="EXT 240"))

    assert "a visit can last at most 720 minutes (12 hours) from check-in: reply EXT 120 or less." in reply
    assert due_after_check_in(priya, visit) == before
    assert "now due at" in reply_text(inbound(client, app, from_phone=org.practitioner.phone, body="EXT 120"))
    at_the_end = reply_text(inbound(client, app, from_phone=org.practitioner.phone, body="EXT 5"))
    assert "yours has reached it. Reply OK when you leave" in at_the_end
    assert due_after_check_in(priya, visit) == timedelta(hours=12)
