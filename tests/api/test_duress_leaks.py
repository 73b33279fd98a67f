"""After a duress event, nothing the practitioner's token can read shows a trace of it.

Two practitioners of one team live through the same morning. The control checks out normally;
the other checks out with the duress PIN, a manager resolves the silent alarm as an incident,
confirms the draft and works it, and the sweep runs for weeks (reminders, follow-ups). Then every
GET route of the app, taken from its url_map so that a route added later is crawled too, is
requested by each of them with every id in the database and every value of every filter of its
query schema. With ids, times and their own names blanked, the duress practitioner must read
exactly what the control reads (so every count is that of a world without the duress event), and
nothing they read may name the alarm, its code, its kind, the draft or a restricted timeline entry.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from werkzeug.routing import IntegerConverter

from safetycheck.accounts.enums import Role
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.incidents.models import Incident
from safetycheck.timeline.models import TimelineEntry
from tests import factories
from tests.escalation import helpers as h

PIN = "9911"
# Routes that serve files by path (Swagger UI, static assets): no ids to fill, nothing of anyone's.
FILE_ROUTES = {"static", "web.static", "ops.swagger_ui_static"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z)?")


@pytest.fixture
def pair(app, clock, org):
    """Two practitioners alike in everything but the PIN they will check out with."""
    with app.app_context():
        people = [
            factories.make_user(now=clock.now(), team=org.team, duress_pin=PIN, name=name)
            for name in ("Casey Control", "Dana Doe")
        ]
        factories.loaded(*people)
    return people


def live_through_it(app, clock, org, as_user, sweep, control, duress, *, late: bool) -> None:
    calm, threatened, boss = as_user(control), as_user(duress), as_user(org.manager)
    visits = [h.check_in(api, minutes=30, location=h.LOCATION) for api in (calm, threatened)]
    if late:
        for minutes in (0, 12):
            h.move_to(clock, h.due_at(visits[0]), minutes=minutes)
            sweep()
    else:
        clock.advance(minutes=10)
    assert calm.post(f"/api/v1/visits/{visits[0]['id']}/checkout", json={}).status_code == 200
    answer = threatened.post(f"/api/v1/visits/{visits[1]['id']}/checkout", json={"pin": PIN})
    assert answer.status_code == 200
    sweep()

    [alarm] = [a for a in h.open_alarm_list(boss) if a["kind"] == "duress"]
    clock.advance(minutes=2)
    assert boss.post(f"/api/v1/alarms/{alarm['id']}/acknowledge").status_code == 200
    resolved = boss.post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "incident"})
    assert resolved.status_code == 200, resolved.get_json()
    draft_id = resolved.get_json()["incident_id"]
    assert draft_id is not None
    for hours in (1, 24 * 3 + 1):  # the draft's target passes: its owners are reminded
        clock.advance(hours=hours)
        sweep()
    drafts = boss.get("/api/v1/incidents?status=draft").get_json()["items"]
    assert [d["id"] for d in drafts] == [draft_id]

    url = f"/api/v1/incidents/{draft_id}"
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "confirm",
            {
                "category": "threat_with_weapon",
                "description": "Held at knifepoint and made to check out.",
                "near_miss": False,
                "harmed": True,
            },
        ),
        ("acknowledge", {}),
        (
            "triage",
            {"harm": "psychological", "consequence": 4, "likelihood": 3, "investigation_level": "local"},
        ),
        ("feedback", {"message": "Police informed; joint visits only at this address."}),
    ]
    for step, body in steps:
        done = boss.post(f"{url}/{step}", json=body)
        assert done.status_code in (200, 201), (step, done.get_json())
    for days in (1, 3, 15, 43):  # welfare check, support follow-ups, step targets
        clock.advance(days=days)
        sweep()


def all_ids(app) -> list[int]:
    """Every integer primary key of every table: what a crawler could try as an id."""
    found: set[int] = set()
    with h.session(app) as s:
        for table in db.metadata.sorted_tables:
            for column in table.primary_key.columns:
                if column.type.python_type is int:
                    found.update(s.scalars(sa.select(column)))
    return sorted(found)


def query_variants(view: Any, ids: list[int]) -> list[dict[str, str]]:
    """No filter, then each filter of the route's query schema alone with each of its values."""
    variants: list[dict[str, str]] = [{}]
    for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
        if parameter.get("in") != "query":
            continue
        schema = parameter["schema"]
        schema = schema() if isinstance(schema, type) else schema
        assert isinstance(schema, Schema)
        for name, field in schema.fields.items():
            key = field.data_key or name
            variants += [{key: value} for value in filter_values(name, field, ids)]
    return variants


def filter_values(name: str, field: fields.Field, ids: list[int]) -> list[str]:
    inner = field.inner if isinstance(field, fields.List) else field
    if isinstance(inner, fields.Enum):
        return [str(member.value) for member in inner.enum]
    for validator in inner.validators:
        if isinstance(validator, validate.OneOf):
            return [str(choice) for choice in validator.choices]
    if isinstance(inner, fields.Boolean):
        return ["true", "false"]
    if isinstance(inner, fields.Integer) and name.endswith("_id"):
        return [str(i) for i in ids]
    return []  # pages, dates, free text: nothing derived from an alarm hides behind them


def crawl(app, api, client, ids: list[int]) -> dict[str, tuple[int, str]]:
    """Every GET the token can make: url -> (status, body). Public routes are left to the ops tests."""
    answers: dict[str, tuple[int, str]] = {}
    crawled_endpoints = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in FILE_ROUTES:
            continue
        converters = rule._converters
        assert all(isinstance(c, IntegerConverter) for c in converters.values()), (
            f"{rule.rule}: teach the crawler to fill {sorted(converters)}"
        )
        names = sorted(converters)
        fillings: list[dict[str, int]] = [{}]
        for name in names:
            fillings = [{**f, name: i} for f in fillings for i in ids]
        view = app.view_functions[rule.endpoint]
        for filling in fillings:
            path = rule.build(filling, append_unknown=False)[1]
            if client.get(path).status_code != 401:
                break  # a public route (health, metrics, the API document): not the token's to read
            crawled_endpoints.add(rule.endpoint)
            for args in query_variants(view, ids):
                response = api.get(path, query_string=args)
                assert response.status_code < 500, (path, args, response.data[:300])
                url = path + ("?" + "&".join(f"{k}={v}" for k, v in args.items()) if args else "")
                answers[url] = (response.status_code, response.get_data(as_text=True))
    assert {"visits.list_visits", "visits.get_visit", "incidents.list_incidents"} <= crawled_endpoints
    return answers


def normalised(answers: dict[str, tuple[int, str]], me: Any) -> Counter[tuple[int, str]]:
    """The answers as a multiset, with ids, times, alarm codes and the reader's own details blanked."""

    def blank(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: blank(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v, key) for v in value]
        if isinstance(value, int) and not isinstance(value, bool):
            if key == "id" or key.endswith(("_id", "_by")) or key == "notified":
                return "<id>"
        if isinstance(value, str):
            if key == "code":
                return "<code>"
            for mine in (me.name, me.email, me.phone):
                value = value.replace(mine, "<me>")
            return TIMESTAMP.sub("<time>", value)
        return value

    seen: Counter[tuple[int, str]] = Counter()
    for status, body in answers.values():
        try:
            data = json.loads(body)
        except ValueError:
            seen[(status, blank(body))] += 1
            continue
        seen[(status, json.dumps(blank(data), sort_keys=True))] += 1
    return seen


def traces(app, answers: dict[str, tuple[int, str]], practitioner_id: int) -> list[str]:
    """Everything in the answers that comes from the practitioner's duress alarm."""
    with h.session(app) as s:
        alarm = s.scalar(
            sa.select(Alarm).where(Alarm.practitioner_id == practitioner_id, Alarm.kind == AlarmKind.DURESS)
        )
        assert alarm is not None
        draft = s.scalar(sa.select(Incident).where(Incident.alarm_id == alarm.id))
        assert draft is not None
        restricted = {
            (e.event, e.at.isoformat(), e.actor_id, json.dumps(e.details, sort_keys=True))
            for e in s.scalars(sa.select(TimelineEntry).where(TimelineEntry.restricted))
        }
        alarm_id, code, draft_id = alarm.id, alarm.code, draft.id
    assert restricted
    found: list[str] = []

    def walk(url: str, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(url, item)
            return
        if not isinstance(value, dict):
            return
        if {"event", "at", "details"} <= value.keys():
            entry = (
                value["event"],
                value["at"],
                value.get("actor_id"),
                json.dumps(value["details"], sort_keys=True),
            )
            if entry in restricted:
                found.append(f"{url}: restricted timeline entry {value['event']}")
        for key, item in value.items():
            if key.endswith("alarm_id") and item == alarm_id:
                found.append(f"{url}: {key} of the duress alarm")
            if key.endswith("incident_id") and item == draft_id:
                found.append(f"{url}: {key} of the duress incident")
        if "kind" in value and value.get("id") == alarm_id:
            found.append(f"{url}: the duress alarm")
        if "reporter_id" in value and value.get("id") == draft_id:
            found.append(f"{url}: the duress incident")
        for item in value.values():
            walk(url, item)

    for url, (_, body) in answers.items():
        if "duress" in body.lower():
            found.append(f"{url}: says duress")
        if re.search(rf"\b{code}\b", body):
            found.append(f"{url}: the alarm code {code}")
        try:
            walk(url, json.loads(body))
        except ValueError:
            pass
    return found


def texts_to(app, user: Any) -> list[str]:
    with h.session(app) as s:
        rows = s.scalars(
            sa.select(OutboxMessage.body)
            .where(OutboxMessage.recipient_id == user.id)
            .order_by(OutboxMessage.id)
        )
        return [TIMESTAMP.sub("<time>", body).replace(user.name, "<me>") for body in rows]


@pytest.mark.parametrize("late", [False, True], ids=["on-time", "while-overdue"])
def test_a_crawl_of_every_get_finds_no_trace_of_a_duress_event(
    app, clock, org, as_user, client, sweep, console_sms, pair, late
):
    control, duress = pair
    live_through_it(app, clock, org, as_user, sweep, control, duress, late=late)

    calm, threatened = as_user(control), as_user(duress)
    ids = all_ids(app)  # after signing in: both crawls try the same ids
    theirs = crawl(app, calm, client, ids)
    mine = crawl(app, threatened, client, ids)

    assert set(mine) == set(theirs)
    assert len(mine) > 500  # every id and every filter value, not a handful of pages
    assert traces(app, mine, duress.id) == []
    expected, seen = normalised(theirs, control), normalised(mine, duress)
    assert seen == expected, {
        "only with duress": list((seen - expected).items())[:3],
        "missing": list((expected - seen).items())[:3],
    }
    # Nor did the phone get a text the control's did not: no reminder of a draft, no feedback.
    assert texts_to(app, duress) == texts_to(app, control)


# --- the duress draft is the managers' -----------------------------------------------------------


def duress_draft(app, clock, org, as_user) -> tuple[dict[str, Any], dict[str, Any]]:
    """A duress check-out whose alarm the on-call manager resolved as an incident."""
    worker = as_user(org.practitioner)
    visit = h.check_in(worker, minutes=30)
    clock.advance(minutes=5)
    assert worker.post(f"/api/v1/visits/{visit['id']}/checkout", json={"pin": PIN}).status_code == 200
    [alarm] = h.open_alarm_list(as_user(org.on_call))
    resolved = as_user(org.on_call).post(
        f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "incident"}
    )
    assert resolved.status_code == 200
    return visit, resolved.get_json()


def test_the_practitioner_can_neither_see_nor_confirm_the_duress_draft(app, clock, org, as_user):
    _, alarm = duress_draft(app, clock, org, as_user)
    worker, boss = as_user(org.practitioner), as_user(org.manager)
    url = f"/api/v1/incidents/{alarm['incident_id']}"
    body = {"category": "threat", "description": "Threatened.", "near_miss": False}

    assert worker.get("/api/v1/incidents?status=draft").get_json() == {
        "items": [],
        "page": 1,
        "per_page": 50,
        "total": 0,
        "total_is_estimate": False,
    }
    assert worker.get(url).status_code == 404
    assert worker.post(f"{url}/confirm", json=body).status_code == 404
    assert worker.patch(url, json={"injury": "none"}).status_code == 404
    [draft] = boss.get("/api/v1/incidents?status=draft").get_json()["items"]
    assert (draft["id"], draft["alarm_id"], draft["reporter_id"]) == (
        alarm["incident_id"],
        alarm["id"],
        org.practitioner.id,
    )
    assert boss.post(f"{url}/confirm", json=body).status_code == 200


def test_the_duress_drafts_reminders_go_to_the_managers_who_own_it(
    app, clock, org, as_user, sweep, console_sms
):
    with app.app_context():
        deputy = factories.make_user(now=clock.now(), role=Role.MANAGER, team=org.other_team, on_call=True)
        factories.loaded(deputy)
    worker = as_user(org.practitioner)
    visit = h.check_in(worker, minutes=30)
    assert worker.post(f"/api/v1/visits/{visit['id']}/checkout", json={"pin": PIN}).status_code == 200
    sweep()  # the on-call deputy is texted, and so may resolve it
    [alarm] = h.open_alarm_list(as_user(deputy))
    assert (
        as_user(deputy)
        .post(f"/api/v1/alarms/{alarm['id']}/resolve", json={"outcome": "incident"})
        .status_code
        == 200
    )
    clock.advance(days=3, minutes=1)
    sweep()

    def reminded(user: Any) -> bool:
        return any("is a draft waiting" in body for body in texts_to(app, user))

    # The manager of another team who resolved it, and the practitioner's own managers.
    assert [reminded(u) for u in (deputy, org.manager, org.on_call, org.practitioner)] == [
        True,
        True,
        True,
        False,
    ]


def test_nobody_can_ask_or_task_the_practitioner_through_a_duress_incident(app, clock, org, as_user):
    _, alarm = duress_draft(app, clock, org, as_user)
    boss = as_user(org.manager)
    url = f"/api/v1/incidents/{alarm['incident_id']}"
    confirm = {"category": "threat", "description": "Threatened.", "near_miss": False}
    assert boss.post(f"{url}/confirm", json=confirm).status_code == 200
    assert boss.post(f"{url}/acknowledge", json={}).status_code == 200
    before = texts_to(app, org.practitioner)

    asked = boss.post(f"{url}/request-information", json={"question": "What happened?"})
    assert asked.status_code == 409
    assert "in person" in asked.get_json()["message"]
    task = {
        "title": "Write a statement",
        "owner_id": org.practitioner.id,
        "due_at": "2026-03-09T09:00:00+00:00",
    }
    tasked = boss.post(f"{url}/actions", json=task)
    assert tasked.status_code == 422
    assert "owner_id" in tasked.get_json()["errors"]
    assert boss.post(f"{url}/feedback", json={"message": "Police informed."}).status_code == 200
    assert texts_to(app, org.practitioner) == before
