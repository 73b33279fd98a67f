"""Statements per check-in and check-out: a regression test on the request path's query shape.

docs/benchmarks.md ("P4 API throughput") justifies each statement counted here; a change that
adds one (a reload after commit, a second look-up of the token's user, a household check in two
round trips) fails this test and must either be removed or justified there. Not a timed test.

Under the suite's outer transaction a request's BEGIN and COMMIT show as a SAVEPOINT and its
RELEASE; they are checked to be the first and last statement and then left out of the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from safetycheck.extensions import db
from tests.incidents.helpers import SAME_HOME_TYPED_FAST, report

# The justified numbers (docs/benchmarks.md): each one more is a round trip on every request.
CHECK_IN_STATEMENTS = 7  # token+user, keyed/current visit, household+markers, INSERT visit
# ... ON CONFLICT DO NOTHING RETURNING, a reachable manager (the cover check), INSERT
# visit_households, INSERT timeline (then COMMIT)
CHECK_OUT_STATEMENTS = 4  # token+user, visit, UPDATE visit, INSERT timeline (then COMMIT)


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def request_statements(seen: list[str]) -> list[str]:
    """The request's own statements: its transaction's SAVEPOINT/RELEASE pair (the suite's stand-in
    for BEGIN and COMMIT) must open and close the list, and nothing may follow the commit."""
    assert seen[0].startswith("SAVEPOINT"), seen
    assert seen[-1].startswith("RELEASE SAVEPOINT"), f"a statement after the commit: {seen[-1]}"
    return seen[1:-1]


@pytest.fixture
def priya(as_user, org, clock):
    api = as_user(org.practitioner)
    # The first request stamps the token's last use (once a minute): not the steady state.
    assert api.get("/api/v1/visits").status_code == 200
    return api


@pytest.fixture
def marked_household(as_user, org, clock) -> None:
    """An active written-agreement marker at the check-in address: the answer carries a warning."""
    incident = report(as_user(org.practitioner), clock, category="threat_with_weapon")
    marker = as_user(org.manager).post(
        f"/api/v1/incidents/{incident['id']}/markers",
        json={"reason": "Dog loose in the garden.", "controls": ["written_agreement"]},
    )
    assert marker.status_code == 201, marker.get_json()
    approved = as_user(org.lead).post(f"/api/v1/markers/{marker.get_json()['id']}/approve", json={})
    assert approved.status_code == 200


def assert_answer_is_what_was_stored(api: Any, answer: dict[str, Any]) -> None:
    """The answer, serialised without a reload, is the visit as a fresh request reads it back."""
    stored = api.get(f"/api/v1/visits/{answer['id']}").get_json()
    assert {key: stored[key] for key in answer} == answer


def check_in(api: Any) -> Any:
    return api.post(
        "/api/v1/visits",
        json={
            "address": SAME_HOME_TYPED_FAST,
            "duration_minutes": 45,
            "case_ref": "C-1042",
            "location": {"lat": 53.7996, "lon": -1.5491, "accuracy_m": 12.5},
        },
        headers={"Idempotency-Key": "phone-retry-1"},
    )


def test_check_in_and_check_out_statements(app, priya, marked_household, clock) -> None:
    with statements(app) as seen:
        checked_in = check_in(priya)
    assert checked_in.status_code == 201, checked_in.get_json()
    assert checked_in.get_json()["warnings"], "the marker's warning is part of the path measured"
    made = request_statements(seen)
    assert len(made) <= CHECK_IN_STATEMENTS, "\n".join(made)
    assert_answer_is_what_was_stored(priya, checked_in.get_json())

    clock.advance(timedelta(seconds=20))
    with statements(app) as seen:
        done = priya.post(f"/api/v1/visits/{checked_in.get_json()['id']}/checkout", json={})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["practitioner_name"] == "Priya Practitioner"
    made = request_statements(seen)
    assert len(made) <= CHECK_OUT_STATEMENTS, "\n".join(made)
    assert_answer_is_what_was_stored(priya, done.get_json())


def test_a_replayed_check_in_is_answered_by_the_one_look_up(app, priya, marked_household, clock) -> None:
    first = check_in(priya)
    assert first.status_code == 201
    with statements(app) as seen:
        again = check_in(priya)
    assert again.get_json() == first.get_json()
    # token+user, then the keyed/current visit query finds the first visit: nothing else.
    assert len(request_statements(seen)) <= 2, "\n".join(seen)


def test_the_once_a_minute_token_stamp_reloads_nothing(app, priya, clock) -> None:
    clock.advance(timedelta(minutes=2))
    with statements(app) as seen:
        listed = priya.get("/api/v1/visits")
    assert listed.status_code == 200
    # The stamp is an UPDATE and its own commit; the token's user is not read again after it.
    users_reads = [s for s in seen if s.startswith("SELECT users.")]
    assert users_reads == [], "\n".join(seen)
    assert sum(s.startswith("UPDATE api_tokens") for s in seen) == 1
