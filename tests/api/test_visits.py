"""The visit API as the contract describes it: check-in, get, list, extend, check-out, location."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits.models import Visit
from tests.assertions import assert_error, count, session

VISITS = "/api/v1/visits"
ADDRESS = "12 Acacia Avenue, Leeds LS1 4AB"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def check_in(client, **body):
    body.setdefault("address", ADDRESS)
    if "expected_end" not in body:
        body.setdefault("duration_minutes", 60)
    headers = body.pop("headers", None)
    return client.post(VISITS, json=body, headers=headers)


@pytest.fixture
def priya(as_user, org):
    return as_user(org.practitioner)


@pytest.fixture
def visit(priya) -> dict:
    response = check_in(priya)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- check-in --------------------------------------------------------------------------------


def test_check_in_with_a_duration(priya, clock, org) -> None:
    response = check_in(priya, duration_minutes=45, case_ref="C-1042", notes="dog in garden")

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "active"
    assert isinstance(body["id"], int)
    assert at(body["checked_in_at"]) == clock.now()
    assert at(body["due_at"]) == clock.now() + timedelta(minutes=45)
    assert body["address"] == ADDRESS
    assert body["warnings"] == []
    assert body["practitioner_id"] == org.practitioner.id
    assert body["case_ref"] == "C-1042"
    # Times carry a UTC offset.
    assert at(body["due_at"]).utcoffset() == timedelta(0)


def test_check_in_with_an_expected_end_in_another_offset(priya, clock) -> None:
    response = check_in(priya, expected_end="2026-03-02T10:30:00+01:00")

    assert response.status_code == 201
    assert at(response.get_json()["due_at"]) == at("2026-03-02T09:30:00+00:00")


def test_check_in_with_a_location_keeps_it_as_the_last_location(priya, clock) -> None:
    body = check_in(priya, location={"lat": 53.8, "lon": -1.55, "accuracy_m": 12}).get_json()

    assert body["last_location"]["lat"] == 53.8
    assert body["last_location"]["lon"] == -1.55
    assert at(body["last_location"]["at"]) == clock.now()


def test_check_in_writes_the_timeline(priya, org, app, clock) -> None:
    visit_id = check_in(priya).get_json()["id"]

    body = priya.get(f"{VISITS}/{visit_id}").get_json()
    assert [(e["event"], e["actor_id"], at(e["at"])) for e in body["timeline"]] == [
        ("checked_in", org.practitioner.id, clock.now())
    ]
    assert body["alarms"] == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"address": ADDRESS}, ("duration_minutes", "expected_end")),
        (
            {"address": ADDRESS, "duration_minutes": 30, "expected_end": "2026-03-02T10:00:00+00:00"},
            ("duration_minutes", "expected_end"),
        ),
        ({"address": ADDRESS, "expected_end": "2026-03-02T10:00:00"}, ("expected_end",)),
        ({"address": ADDRESS, "expected_end": "2026-03-02T08:59:00+00:00"}, ("expected_end",)),
        ({"address": ADDRESS, "expected_end": "2026-03-02T09:00:00+00:00"}, ("expected_end",)),
        ({"address": ADDRESS, "expected_end": "2026-03-02T21:00:01+00:00"}, ("expected_end",)),
        ({"address": ADDRESS, "expected_end": "tomorrow"}, ("expected_end",)),
        ({"address": ADDRESS, "duration_minutes": 0}, ("duration_minutes",)),
        ({"address": ADDRESS, "duration_minutes": -5}, ("duration_minutes",)),
        ({"address": ADDRESS, "duration_minutes": 721}, ("duration_minutes",)),
        ({"address": ADDRESS, "duration_minutes": 30.5}, ("duration_minutes",)),
        ({"address": ADDRESS, "duration_minutes": "30"}, ("duration_minutes",)),
        ({"address": ADDRESS, "duration_minutes": None}, ("duration_minutes",)),
        ({"duration_minutes": 30}, ("address",)),
        ({"address": "   ", "duration_minutes": 30}, ("address",)),
        ({"address": ADDRESS, "duration_minutes": 30, "postcode": "LS1"}, ("postcode",)),
        ({"address": ADDRESS, "duration_minutes": 30, "location": {"lat": 91, "lon": 0}}, ("location",)),
        ({"address": ADDRESS, "duration_minutes": 30, "companion_id": 999999}, ("companion_id",)),
    ],
    ids=[
        "neither-end",
        "both-ends",
        "no-offset",
        "in-the-past",
        "now",
        "beyond-12h",
        "not-a-time",
        "zero-minutes",
        "negative-minutes",
        "721-minutes",
        "fractional-minutes",
        "minutes-as-string",
        "null-minutes",
        "no-address",
        "blank-address",
        "unknown-field",
        "bad-location",
        "unknown-companion",
    ],
)
def test_invalid_check_in_is_422_naming_the_field_and_changes_nothing(priya, app, body, fields) -> None:
    before = (count(app, Visit), count(app, TimelineEntry))

    response = priya.post(VISITS, json=body)

    assert_error(response, 422, *fields)
    assert (count(app, Visit), count(app, TimelineEntry)) == before


@pytest.mark.parametrize(
    "body",
    [{"duration_minutes": 720}, {"duration_minutes": 1}, {"expected_end": "2026-03-02T21:00:00+00:00"}],
    ids=["720-minutes", "1-minute", "exactly-12h"],
)
def test_check_in_limits_are_inclusive(priya, body) -> None:
    assert check_in(priya, **body).status_code == 201


def test_retry_with_the_same_idempotency_key_returns_the_first_visit(priya, app, clock) -> None:
    first = check_in(priya, headers={"Idempotency-Key": "tap-1"})
    clock.advance(seconds=20)  # the phone retried after a timeout
    second = check_in(priya, headers={"Idempotency-Key": "tap-1"})

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["due_at"] == first.get_json()["due_at"]
    assert count(app, Visit) == 1
    with session(app) as s:  # one check-in on the visit's timeline, not two
        events = s.scalars(sa.select(TimelineEntry.event).where(TimelineEntry.subject_type == "visit")).all()
    assert events == ["checked_in"]


def test_a_used_idempotency_key_with_another_request_is_422_and_changes_nothing(priya, app, clock) -> None:
    first = check_in(priya, headers={"Idempotency-Key": "tap-1"}).get_json()
    clock.advance(minutes=30)
    assert priya.post(f"{VISITS}/{first['id']}/checkout", json={}).status_code == 200
    clock.advance(hours=2)

    for other in ({"address": "9 Other Street, Leeds LS2 7AB"}, {"duration_minutes": 90}, {"notes": "dog"}):
        response = check_in(priya, **other, headers={"Idempotency-Key": "tap-1"})
        body = assert_error(response, 422, "Idempotency-Key")
        assert "Idempotency-Key" in body["message"]
    assert count(app, Visit) == 1
    assert priya.get(VISITS).get_json()["total"] == 1
    # The phone that sent the first request again still gets its visit back, as it stands.
    again = check_in(priya, headers={"Idempotency-Key": "tap-1"})
    assert again.status_code == 201
    assert (again.get_json()["id"], again.get_json()["status"]) == (first["id"], "completed")


def test_the_fingerprint_is_of_the_json_not_its_spacing_or_key_order(priya, app) -> None:
    first = check_in(priya, headers={"Idempotency-Key": "tap-1"})
    raw = '{ "duration_minutes" : 60,\n  "address": "' + ADDRESS + '" }'
    retry = priya.client.post(
        VISITS,
        data=raw,
        headers={**priya._headers(None), "Idempotency-Key": "tap-1", "Content-Type": "application/json"},
    )
    assert retry.status_code == 201
    assert retry.get_json()["id"] == first.get_json()["id"]


def test_a_key_stored_before_fingerprints_is_matched_by_address(priya, app, clock, org) -> None:
    first = check_in(priya, headers={"Idempotency-Key": "old-tap"}).get_json()
    with session(app) as s:  # as the rows stored before the fingerprint was kept
        s.get(Visit, first["id"]).idempotency_fingerprint = None
        s.commit()

    assert (
        check_in(priya, duration_minutes=45, headers={"Idempotency-Key": "old-tap"}).get_json()["id"]
        == (first["id"])
    )
    other = check_in(priya, address="9 Other Street, Leeds LS2 7AB", headers={"Idempotency-Key": "old-tap"})
    assert_error(other, 422, "Idempotency-Key")
    assert count(app, Visit) == 1


def test_an_idempotency_key_longer_than_100_characters_is_refused_not_cut(priya, app) -> None:
    shared = "k" * 100
    assert check_in(priya, headers={"Idempotency-Key": shared}).status_code == 201

    response = check_in(priya, headers={"Idempotency-Key": shared + "-second-visit"})

    assert_error(response, 422, "Idempotency-Key")
    assert count(app, Visit) == 1


def test_idempotency_keys_belong_to_one_practitioner(as_user, org, app) -> None:
    mine = check_in(as_user(org.practitioner), headers={"Idempotency-Key": "same"})
    theirs = check_in(as_user(org.colleague), headers={"Idempotency-Key": "same"})

    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert count(app, Visit) == 2


def test_a_second_check_in_is_409_naming_the_active_visit(priya, visit, app) -> None:
    for headers in (None, {"Idempotency-Key": "another-tap"}):
        response = check_in(priya, headers=headers)

        body = assert_error(response, 409)
        assert str(visit["id"]) in body["message"]
        assert body["errors"]["active_visit_id"] == [str(visit["id"])]
    assert count(app, Visit) == 1


def test_check_in_again_after_checking_out(priya, visit) -> None:
    assert priya.post(f"{VISITS}/{visit['id']}/checkout", json={}).status_code == 200
    response = check_in(priya)
    assert response.status_code == 201
    assert response.get_json()["id"] != visit["id"]


@pytest.mark.parametrize("role", ["manager", "lead", "admin"])
def test_only_practitioners_check_in(as_user, org, app, role) -> None:
    assert_error(check_in(as_user(getattr(org, role))), 403)
    assert count(app, Visit) == 0


def test_check_in_with_a_companion_from_the_team(as_user, org) -> None:
    response = check_in(as_user(org.practitioner), companion_id=org.colleague.id)

    assert response.status_code == 201
    assert response.get_json()["companion_id"] == org.colleague.id


@pytest.mark.parametrize("who", ["practitioner", "other_practitioner"])
def test_companion_must_be_someone_else_in_the_team(as_user, org, who) -> None:
    response = check_in(as_user(org.practitioner), companion_id=getattr(org, who).id)
    assert_error(response, 422, "companion_id")


# --- get and list ----------------------------------------------------------------------------


def test_get_a_visit(priya, visit) -> None:
    response = priya.get(f"{VISITS}/{visit['id']}")

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in visit} == visit
    assert body["alarms"] == []


def test_visits_outside_reach_are_404_not_403(as_user, org, visit) -> None:
    for user in (org.colleague, org.other_practitioner, org.other_manager):
        assert_error(as_user(user).get(f"{VISITS}/{visit['id']}"), 404)
    assert_error(as_user(org.admin).get(f"{VISITS}/999999"), 404)


def test_visits_in_reach_are_visible(as_user, org, visit) -> None:
    for user in (org.manager, org.on_call, org.lead, org.admin):
        assert as_user(user).get(f"{VISITS}/{visit['id']}").status_code == 200


def test_companion_sees_the_visit_but_cannot_act_on_it(as_user, org) -> None:
    visit = check_in(as_user(org.practitioner), companion_id=org.colleague.id).get_json()
    sam = as_user(org.colleague)

    assert sam.get(f"{VISITS}/{visit['id']}").status_code == 200
    assert [v["id"] for v in sam.get(VISITS).get_json()["items"]] == [visit["id"]]
    assert_error(sam.post(f"{VISITS}/{visit['id']}/checkout", json={}), 403)
    assert_error(sam.post(f"{VISITS}/{visit['id']}/extend", json={"minutes": 5}), 403)


@pytest.fixture
def visits_everywhere(as_user, org, clock) -> dict[str, int]:
    """A completed and an active visit for Priya, one active for Sam, one in the other team."""
    priya = as_user(org.practitioner)
    done = check_in(priya).get_json()["id"]
    priya.post(f"{VISITS}/{done}/checkout", json={})
    clock.advance(minutes=5)
    ids = {
        "priya_done": done,
        "priya_active": check_in(priya).get_json()["id"],
        "sam_active": check_in(as_user(org.colleague)).get_json()["id"],
        "other_active": check_in(as_user(org.other_practitioner)).get_json()["id"],
    }
    return ids


def listed(client, query: str = "") -> list[int]:
    response = client.get(f"{VISITS}{query}")
    assert response.status_code == 200, response.get_json()
    return sorted(v["id"] for v in response.get_json()["items"])


def test_list_reach_by_role(as_user, org, visits_everywhere) -> None:
    ids = visits_everywhere
    priya = sorted([ids["priya_done"], ids["priya_active"]])
    team = sorted([*priya, ids["sam_active"]])
    everyone = sorted(ids.values())

    assert listed(as_user(org.practitioner)) == priya
    assert listed(as_user(org.colleague)) == [ids["sam_active"]]
    assert listed(as_user(org.manager)) == team
    assert listed(as_user(org.other_manager)) == [ids["other_active"]]
    assert listed(as_user(org.lead)) == everyone
    assert listed(as_user(org.admin)) == everyone


def test_list_filters_by_status(as_user, org, visits_everywhere) -> None:
    ids = visits_everywhere
    manager = as_user(org.manager)

    assert listed(manager, "?status=completed") == [ids["priya_done"]]
    assert listed(manager, "?status=active") == sorted([ids["priya_active"], ids["sam_active"]])
    assert listed(manager, "?status=overdue") == []
    assert_error(manager.get(f"{VISITS}?status=finished"), 422, "status")


def test_list_pages_newest_first(as_user, org, visits_everywhere) -> None:
    admin = as_user(org.admin)

    first = admin.get(f"{VISITS}?per_page=3").get_json()
    second = admin.get(f"{VISITS}?per_page=3&page=2").get_json()

    assert set(first) >= {"items", "page", "per_page", "total"}
    assert (first["page"], first["per_page"], first["total"]) == (1, 3, 4)
    assert (second["page"], second["per_page"], second["total"]) == (2, 3, 4)
    assert len(first["items"]) == 3
    assert [v["id"] for v in second["items"]] == [visits_everywhere["priya_done"]]
    assert_error(admin.get(f"{VISITS}?per_page=0"), 422, "per_page")
    assert_error(admin.get(f"{VISITS}?page=0"), 422, "page")


def test_an_empty_list_is_still_an_object(as_user, org) -> None:
    assert as_user(org.practitioner).get(VISITS).get_json() == {
        "items": [],
        "page": 1,
        "per_page": 50,
        "total": 0,
    }


# --- extend ----------------------------------------------------------------------------------


def test_extend_an_active_visit_from_its_due_time(priya, visit, clock) -> None:
    clock.advance(minutes=50)

    response = priya.post(f"{VISITS}/{visit['id']}/extend", json={"minutes": 30})

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "active"
    assert at(body["due_at"]) == at(visit["due_at"]) + timedelta(minutes=30)


def test_extend_an_overdue_visit_from_now(priya, visit, clock, sweep, console_sms) -> None:
    clock.advance(minutes=75)  # 15 minutes past due
    sweep()
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["status"] == "overdue"

    response = priya.post(f"{VISITS}/{visit['id']}/extend", json={"minutes": 30})

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "active"
    assert at(body["due_at"]) == clock.now() + timedelta(minutes=30)


@pytest.mark.parametrize(
    "body", [{}, {"minutes": 0}, {"minutes": 241}, {"minutes": 2.5}, {"minutes": 5, "x": 1}]
)
def test_invalid_extension_is_422_and_changes_nothing(priya, visit, body) -> None:
    response = priya.post(f"{VISITS}/{visit['id']}/extend", json=body)

    assert_error(response, 422, *(set(body) - {"minutes"} or {"minutes"}))
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["due_at"] == visit["due_at"]


def test_extend_is_the_practitioners_alone(as_user, org, visit) -> None:
    assert_error(as_user(org.manager).post(f"{VISITS}/{visit['id']}/extend", json={"minutes": 5}), 403)
    assert_error(
        as_user(org.other_practitioner).post(f"{VISITS}/{visit['id']}/extend", json={"minutes": 5}), 404
    )


# --- check-out -------------------------------------------------------------------------------


def test_check_out(priya, visit, clock) -> None:
    clock.advance(minutes=40)

    response = priya.post(f"{VISITS}/{visit['id']}/checkout", json={"outcome": "safe"})

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "completed"
    assert body["outcome"] == "safe"
    assert at(body["checked_out_at"]) == clock.now()
    events = [e["event"] for e in priya.get(f"{VISITS}/{visit['id']}").get_json()["timeline"]]
    assert events == ["checked_in", "checked_out"]


def test_check_out_with_no_body_fields_is_safe(priya, visit) -> None:
    assert priya.post(f"{VISITS}/{visit['id']}/checkout", json={}).get_json()["outcome"] == "safe"


def test_check_out_reporting_an_incident(priya, visit) -> None:
    response = priya.post(f"{VISITS}/{visit['id']}/checkout", json={"outcome": "incident"})
    assert response.get_json()["outcome"] == "incident"


def test_check_out_late_completes_an_overdue_visit(priya, visit, clock, sweep, console_sms) -> None:
    clock.advance(minutes=61)
    sweep()
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["status"] == "overdue"

    response = priya.post(f"{VISITS}/{visit['id']}/checkout", json={})

    assert response.status_code == 200
    assert response.get_json()["status"] == "completed"
    assert response.get_json()["outcome"] == "safe"


def test_check_out_twice_is_409(priya, visit) -> None:
    assert priya.post(f"{VISITS}/{visit['id']}/checkout", json={}).status_code == 200
    assert_error(priya.post(f"{VISITS}/{visit['id']}/checkout", json={}), 409)


def test_check_out_someone_elses_visit_is_404(as_user, org, visit) -> None:
    assert_error(as_user(org.other_practitioner).post(f"{VISITS}/{visit['id']}/checkout", json={}), 404)
    assert_error(as_user(org.practitioner).post(f"{VISITS}/999999/checkout", json={}), 404)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_cannot_check_out_for_a_practitioner(as_user, org, visit, role) -> None:
    assert_error(as_user(getattr(org, role)).post(f"{VISITS}/{visit['id']}/checkout", json={}), 403)
    assert as_user(org.practitioner).get(f"{VISITS}/{visit['id']}").get_json()["status"] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "fine"}, "outcome"),
        ({"pin": "12a4"}, "pin"),
        ({"pin": 9911}, "pin"),
        ({"pin": "\u0669\u0669\u0661\u0661"}, "pin"),  # Arabic-Indic 9911
        ({"pin": "9911\n"}, "pin"),
        ({"rating": 5}, "rating"),
    ],
)
def test_invalid_check_out_is_422_and_changes_nothing(priya, visit, body, field) -> None:
    assert_error(priya.post(f"{VISITS}/{visit['id']}/checkout", json=body), 422, field)
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["status"] == "active"


def test_check_out_with_the_duress_pin_looks_exactly_like_a_normal_one(as_user, org, clock) -> None:
    sam, priya = as_user(org.colleague), as_user(org.practitioner)
    normal = check_in(sam).get_json()
    duress = check_in(priya).get_json()

    plain = sam.post(f"{VISITS}/{normal['id']}/checkout", json={"pin": "1111"})
    silent = priya.post(f"{VISITS}/{duress['id']}/checkout", json={"pin": "9911"})

    assert silent.status_code == plain.status_code == 200
    assert set(silent.get_json()) == set(plain.get_json())
    assert silent.get_json()["status"] == "completed"
    assert silent.get_json()["outcome"] == plain.get_json()["outcome"] == "safe"
    # The practitioner's own view shows no alarm and no duress entry.
    seen = priya.get(f"{VISITS}/{duress['id']}").get_json()
    assert seen["alarms"] == []
    assert [e["event"] for e in seen["timeline"]] == ["checked_in", "checked_out"]
    # Their manager sees the duress alarm.
    managed = as_user(org.manager).get(f"{VISITS}/{duress['id']}").get_json()
    assert [a["kind"] for a in managed["alarms"]] == ["duress"]


# --- location --------------------------------------------------------------------------------


def test_location_is_kept_and_shown_as_last_location(priya, as_user, org, visit, clock) -> None:
    clock.advance(minutes=3)
    response = priya.post(
        f"{VISITS}/{visit['id']}/location", json={"lat": 51.5, "lon": -0.12, "accuracy_m": 8}
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    seen = as_user(org.manager).get(f"{VISITS}/{visit['id']}").get_json()
    assert seen["last_location"] == {
        "lat": 51.5,
        "lon": -0.12,
        "accuracy_m": 8.0,
        "at": seen["last_location"]["at"],
    }
    assert at(seen["last_location"]["at"]) == clock.now()


def test_location_accuracy_is_optional(priya, visit) -> None:
    assert priya.post(f"{VISITS}/{visit['id']}/location", json={"lat": 51.5, "lon": -0.12}).status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {"lat": 91, "lon": 0},
        {"lat": 0, "lon": 181},
        {"lat": 0},
        {"lat": "north", "lon": 0},
        {"lat": 0, "lon": 0, "z": 1},
    ],
)
def test_invalid_location_is_422_and_changes_nothing(priya, visit, body) -> None:
    assert_error(priya.post(f"{VISITS}/{visit['id']}/location", json=body), 422)
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["last_location"] is None


def test_location_after_check_out_is_409_and_tracking_ends(priya, visit) -> None:
    priya.post(f"{VISITS}/{visit['id']}/location", json={"lat": 51.5, "lon": -0.12})
    priya.post(f"{VISITS}/{visit['id']}/checkout", json={})

    assert_error(priya.post(f"{VISITS}/{visit['id']}/location", json={"lat": 51.5, "lon": -0.12}), 409)
    assert priya.get(f"{VISITS}/{visit['id']}").get_json()["last_location"] is None


def test_location_of_someone_elses_visit_is_404(as_user, org, visit) -> None:
    response = as_user(org.other_practitioner).post(
        f"{VISITS}/{visit['id']}/location", json={"lat": 51.5, "lon": -0.12}
    )
    assert_error(response, 404)


def test_visit_endpoints_need_a_token(client, visit) -> None:
    for method, url in [
        ("get", VISITS),
        ("post", VISITS),
        ("get", f"{VISITS}/{visit['id']}"),
        ("post", f"{VISITS}/{visit['id']}/extend"),
        ("post", f"{VISITS}/{visit['id']}/checkout"),
        ("post", f"{VISITS}/{visit['id']}/location"),
    ]:
        assert_error(getattr(client, method)(url), 401)
