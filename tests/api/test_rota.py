"""The rota API: admins write, managers read their own team's (another team's is not found),
bad input is a 422 naming the field, and who is on call now and next."""

from __future__ import annotations

import pytest

from safetycheck.accounts.rota_models import Rotation
from tests.assertions import assert_error, count

NIGHTS = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "17:00", "until": "09:00"},
]


def rotation_body(team: int | None, members: list[int], **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Duty",
        "team_id": team,
        "handover_time": "09:00",
        "shift_length": 1,
        "shift_unit": "days",
        "starts_on": "2026-03-02",
        "user_ids": members,
    }
    body.update(changes)
    return body


def test_an_admin_builds_the_rota_and_anyone_in_reach_reads_who_is_on_call(as_user, org, app) -> None:
    admin = as_user(org.admin)
    layer = admin.post("/api/v1/rota/layers", json={"name": "Nights", "priority": 10, "windows": NIGHTS})
    assert layer.status_code == 201, layer.get_json()
    assert layer.get_json()["windows"] == NIGHTS
    day = admin.post(
        "/api/v1/rota/rotations", json=rotation_body(org.team.id, [org.manager.id, org.colleague.id])
    )
    assert day.status_code == 201, day.get_json()
    body = day.get_json()
    assert body["handover_time"] == "09:00"
    assert [m["user"]["id"] for m in body["members"]] == [org.manager.id, org.colleague.id]
    night = admin.post(
        "/api/v1/rota/rotations",
        json=rotation_body(
            None, [org.lead.id], name="Nights", layer_id=layer.get_json()["id"], handover_time="17:00"
        ),
    )
    assert night.status_code == 201

    boss = as_user(org.manager)
    now = boss.get(f"/api/v1/rota/on-call?team_id={org.team.id}")
    assert now.status_code == 200, now.get_json()
    answer = now.get_json()
    assert {p["id"] for p in answer["current"]} == {org.manager.id, org.on_call.id}  # turn + the flag
    assert answer["next"]["at"] == "2026-03-02T17:00:00+00:00"
    assert {p["id"] for p in answer["next"]["people"]} == {org.lead.id, org.on_call.id}
    assert boss.get("/api/v1/rota/on-call").get_json()["team_id"] == org.team.id  # theirs by default

    reordered = admin.put(
        f"/api/v1/rota/rotations/{body['id']}/members", json={"user_ids": [org.colleague.id, org.manager.id]}
    )
    assert [m["user"]["id"] for m in reordered.get_json()["members"]] == [org.colleague.id, org.manager.id]

    override = admin.post(
        "/api/v1/rota/overrides",
        json={
            "user_id": org.colleague.id,
            "team_id": org.team.id,
            "starts_at": "2026-03-06T17:00:00Z",
            "ends_at": "2026-03-07T09:00:00Z",
            "note": "Sam covers Friday night",
        },
    )
    assert override.status_code == 201, override.get_json()
    friday = boss.get(f"/api/v1/rota/on-call?team_id={org.team.id}&at=2026-03-06T20:00:00Z").get_json()
    assert {p["id"] for p in friday["current"]} == {org.colleague.id, org.on_call.id}
    assert [o["id"] for o in boss.get("/api/v1/rota/overrides").get_json()] == [override.get_json()["id"]]
    assert boss.get("/api/v1/rota/gaps").get_json()["items"] == []  # the flag covers every hour

    assert admin.delete(f"/api/v1/rota/overrides/{override.get_json()['id']}").status_code == 204
    assert admin.delete(f"/api/v1/rota/layers/{layer.get_json()['id']}").status_code == 409  # in use
    assert admin.delete(f"/api/v1/rota/rotations/{night.get_json()['id']}").status_code == 204
    assert admin.delete(f"/api/v1/rota/layers/{layer.get_json()['id']}").status_code == 204


def test_managers_read_only_their_own_team_and_never_write(as_user, org) -> None:
    admin = as_user(org.admin)
    theirs = admin.post(
        "/api/v1/rota/rotations", json=rotation_body(org.other_team.id, [org.other_manager.id])
    )
    ours = admin.post("/api/v1/rota/rotations", json=rotation_body(org.team.id, [org.manager.id]))
    boss = as_user(org.manager)
    assert boss.get(f"/api/v1/rota/rotations/{ours.get_json()['id']}").status_code == 200
    assert_error(boss.get(f"/api/v1/rota/rotations/{theirs.get_json()['id']}"), 404)
    assert_error(boss.get(f"/api/v1/rota/on-call?team_id={org.other_team.id}"), 404)
    assert [r["id"] for r in boss.get("/api/v1/rota/rotations").get_json()] == [ours.get_json()["id"]]
    assert_error(boss.post("/api/v1/rota/rotations", json=rotation_body(org.team.id, [])), 403)
    assert_error(
        boss.put(f"/api/v1/rota/rotations/{ours.get_json()['id']}/members", json={"user_ids": []}), 403
    )
    assert_error(as_user(org.practitioner).get("/api/v1/rota/rotations"), 403)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"handover_time": "9am"}, "handover_time"),
        ({"handover_time": "24:00"}, "handover_time"),
        ({"shift_unit": "fortnights"}, "shift_unit"),
        ({"shift_length": 0}, "shift_length"),
        ({"shift_length": 30}, "shift_length"),  # 30 days: beyond the service's 28
        ({"starts_on": "2 March"}, "starts_on"),
        ({"team_id": 424242}, "team_id"),
        ({"layer_id": 424242}, "layer_id"),
        ({"user_ids": [424242]}, "user_ids"),
        ({"name": "   "}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_rotations_are_refused_naming_the_field(as_user, org, app, changes, field) -> None:
    response = as_user(org.admin).post(
        "/api/v1/rota/rotations", json=rotation_body(org.team.id, [org.manager.id], **changes)
    )
    assert_error(response, 422, field)
    assert count(app, Rotation) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "N", "priority": 0}, "priority"),
        ({"name": "N", "priority": 5, "windows": []}, "windows"),
        (
            {
                "name": "N",
                "priority": 5,
                "windows": [{"days": ["funday"], "from": "17:00", "until": "09:00"}],
            },
            "windows",
        ),
        (
            {"name": "N", "priority": 5, "windows": [{"days": ["mon"], "from": "5pm", "until": "09:00"}]},
            "windows",
        ),
    ],
)
def test_bad_layers_are_refused_naming_the_field(as_user, org, body, field) -> None:
    assert_error(as_user(org.admin).post("/api/v1/rota/layers", json=body), 422, field)


def test_an_override_must_end_after_it_starts_and_have_a_zone(as_user, org) -> None:
    admin = as_user(org.admin)
    base = {"user_id": org.colleague.id, "starts_at": "2026-03-06T17:00:00Z"}
    assert_error(
        admin.post("/api/v1/rota/overrides", json={**base, "ends_at": "2026-03-06T16:00:00Z"}), 422, "ends_at"
    )
    assert_error(
        admin.post("/api/v1/rota/overrides", json={**base, "ends_at": "2026-03-07T09:00:00"}), 422, "ends_at"
    )
    assert_error(
        admin.post(
            "/api/v1/rota/overrides", json={**base, "ends_at": "2026-03-07T09:00:00Z", "user_id": 424242}
        ),
        422,
        "user_id",
    )


def test_the_rota_is_not_open_without_a_token(client) -> None:
    assert client.get("/api/v1/rota/on-call").status_code == 401
