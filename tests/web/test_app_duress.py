"""After a duress check-out, the phone page reads exactly as it does for a colleague who checked
out normally: every GET route of /app, taken from the url_map so that a page added later is
crawled too, through each practitioner's own signed-in session."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm
from tests import factories
from tests.api.test_duress_leaks import PIN, live_through_it
from tests.assertions import session

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z)?")


@pytest.fixture
def pair(app: Any, clock: Any, org: Any) -> list[Any]:
    """Two practitioners alike in everything but the PIN they will check out with."""
    with app.app_context():
        people = [
            factories.make_user(now=clock.now(), team=org.team, duress_pin=PIN, name=name)
            for name in ("Casey Control", "Dana Doe")
        ]
        factories.loaded(*people)
    return people


def app_pages(app: Any) -> list[str]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("web.app.") and "GET" in (rule.methods or ())
    ]
    assert all(not rule.arguments for rule in rules), "teach the crawler to fill these arguments"
    return sorted(rule.rule for rule in rules)


def blanked(body: str, me: Any, other: Any) -> str:
    """Ids, times, tokens and names blanked (each lists the other among their companions)."""
    for mine in (me.name, me.email, me.phone):
        body = body.replace(mine, "<me>")
    body = body.replace(other.name, "<other>")
    body = re.sub(r'<option value="\d+">', "<option>", body)
    body = re.sub(r'value="[^"]{40,}"', "<csrf>", body)
    body = re.sub(r"X-CSRFToken&#34;: &#34;[^&]+&#34;", "<csrf>", body)
    body = re.sub(r'nonce="[^"]+"', "<nonce>", body)
    body = re.sub(r'data-(user|visit-id)="\d+"', r"data-\1", body)
    body = re.sub(r'"id": ?\d+', '"id"', body)
    return TIMESTAMP.sub("<time>", body)


@pytest.mark.parametrize("late", [False, True], ids=["on-time", "while-overdue"])
def test_the_phone_page_shows_no_trace_of_a_duress_check_out(
    app,
    clock,
    org,
    as_user,
    web_as,
    sweep,
    console_sms,
    pair,
    late,
) -> None:
    control, duress = pair
    live_through_it(app, clock, org, as_user, sweep, control, duress, late=late)
    with session(app) as s:
        alarm = s.scalars(
            sa.select(Alarm).where(Alarm.practitioner_id == duress.id, Alarm.kind == AlarmKind.DURESS)
        ).one()
        code = alarm.code
    calm, threatened = web_as(control), web_as(duress)
    assert {"/app", "/app/status", "/app/report"} <= set(app_pages(app))
    crawl_both(app, calm, threatened, control, duress, code)
    status = threatened.client.get("/app/status").get_json()
    assert (status["visit"], status["panic"]) == (None, None)
    assert json.dumps(status).count("duress") == 0


def crawl_both(app: Any, calm: Any, threatened: Any, control: Any, duress: Any, code: str) -> None:
    for path in app_pages(app):
        theirs, mine = calm.get(path), threatened.get(path)
        assert theirs.status_code == mine.status_code < 500, path
        seen, expected = mine.get_data(as_text=True), theirs.get_data(as_text=True)
        assert "duress" not in seen.lower(), path
        assert not re.search(rf"\b{code}\b", seen), path
        assert blanked(seen, duress, control) == blanked(expected, control, duress), path


def test_while_the_silent_alarm_is_open_the_page_shows_nothing_of_it(
    app,
    clock,
    web_as,
    pair,
) -> None:
    control, duress = pair
    calm, threatened = web_as(control), web_as(duress)
    for worker in (calm, threatened):
        assert (
            worker.post("/app/check-in", {"address": "3 Mill Lane, Leeds", "minutes": "30"}).status_code
            == 302
        )
        worker.get("/app")
    clock.advance(minutes=5)
    for worker, pin in ((calm, "1234"), (threatened, PIN)):
        assert worker.post("/app/check-out", {"pin": pin}).status_code == 302
    with session(app) as s:
        alarm = s.scalars(sa.select(Alarm)).one()
        assert (alarm.kind, alarm.status.value) == (AlarmKind.DURESS, "open")
        code = alarm.code
    crawl_both(app, calm, threatened, control, duress, code)
