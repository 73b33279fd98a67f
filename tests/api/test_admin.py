"""Admins create teams and users and mark people on call; nobody else can."""

from __future__ import annotations

import pytest

from safetycheck.accounts.models import Team, User
from tests.assertions import assert_error, count, session


def new_user(team_id: int | None, **changes):
    """A valid POST /users body for a practitioner, with `changes` applied."""
    body = {
        "name": "Nia Newstarter",
        "email": "nia@example.test",
        "phone": "+447700900321",
        "role": "practitioner",
        "team_id": team_id,
        "password": "a long enough password",
    }
    body.update(changes)
    return body


def test_admin_creates_a_team(as_user, org) -> None:
    response = as_user(org.admin).post("/api/v1/teams", json={"name": "Eastside Adults"})

    assert response.status_code == 201
    body = response.get_json()
    assert body == {"id": body["id"], "name": "Eastside Adults"}
    assert isinstance(body["id"], int)


def test_team_names_are_unique_ignoring_case(as_user, org) -> None:
    admin = as_user(org.admin)
    assert admin.post("/api/v1/teams", json={"name": "Eastside"}).status_code == 201
    assert_error(admin.post("/api/v1/teams", json={"name": "EASTSIDE"}), 409, "name")


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": 7}, {"name": "x", "colour": "red"}]
)
def test_team_body_is_validated(as_user, org, app, body) -> None:
    before = count(app, Team)
    response = as_user(org.admin).post("/api/v1/teams", json=body)
    assert_error(response, 422, *(set(body) - {"name"} or {"name"}))
    assert count(app, Team) == before


@pytest.mark.parametrize("role", ["practitioner", "manager", "hs_lead"])
def test_only_admins_create_teams_and_users(as_user, org, app, role) -> None:
    caller = {"practitioner": org.practitioner, "manager": org.manager, "hs_lead": org.lead}[role]
    client = as_user(caller)
    before = (count(app, Team), count(app, User))

    assert_error(client.post("/api/v1/teams", json={"name": "Sneaky"}), 403)
    assert_error(client.post("/api/v1/users", json=new_user(org.team.id)), 403)
    assert_error(client.patch(f"/api/v1/users/{org.colleague.id}", json={"on_call": True}), 403)
    assert (count(app, Team), count(app, User)) == before


def test_admin_creates_a_user_without_secrets_in_the_answer(as_user, org, app) -> None:
    response = as_user(org.admin).post(
        "/api/v1/users", json=new_user(org.team.id, on_call=True, duress_pin="2468")
    )

    assert response.status_code == 201
    body = response.get_json()
    assert {"id", "name", "email", "phone", "role", "team_id"} <= set(body)
    assert not {key for key in body if "password" in key or "pin" in key}
    assert body["role"] == "practitioner"
    assert body["team_id"] == org.team.id
    assert body["on_call"] is True
    with session(app) as s:
        stored = s.get(User, body["id"])
        assert stored.password_hash.startswith("$argon2")
        assert stored.duress_pin_hash is not None
        assert "2468" not in stored.duress_pin_hash


def test_new_user_can_sign_in(as_user, client, org) -> None:
    as_user(org.admin).post("/api/v1/users", json=new_user(org.team.id, email="Nia@Example.TEST"))

    response = client.post(
        "/api/v1/auth/tokens",
        json={"email": "nia@example.test", "password": "a long enough password", "device": "x"},
    )
    assert response.status_code == 201
    assert response.get_json()["user"]["email"] == "nia@example.test"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("07700 900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("+44 (0)7700-900123", "+447700900123"),
        ("07911 123456", "+447911123456"),
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_phone_is_stored_as_e164(as_user, org, typed, stored) -> None:
    response = as_user(org.admin).post("/api/v1/users", json=new_user(org.team.id, phone=typed))

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone"] == stored


@pytest.mark.parametrize("phone", ["12345", "07700 9001234567", "not a phone", "+99 123 456 789", "+447700"])
def test_invalid_phone_is_422_naming_phone(as_user, org, app, phone) -> None:
    before = count(app, User)
    assert_error(
        as_user(org.admin).post("/api/v1/users", json=new_user(org.team.id, phone=phone)), 422, "phone"
    )
    assert count(app, User) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "superuser"}, "role"),
        ({"role": "Practitioner"}, "role"),
        ({"team_id": 2.5}, "team_id"),
        ({"team_id": "1"}, "team_id"),
        ({"password": "short"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "\t\n"}, "name"),
        ({"duress_pin": "12a4"}, "duress_pin"),
        ({"duress_pin": "\u0661\u0662\u0663\u0664"}, "duress_pin"),
        ({"on_call": "perhaps"}, "on_call"),
        ({"is_admin": True}, "is_admin"),
    ],
)
def test_user_body_is_validated(as_user, org, app, changes, field) -> None:
    before = count(app, User)
    body = new_user(org.team.id)
    body.update(changes)
    assert_error(as_user(org.admin).post("/api/v1/users", json=body), 422, field)
    assert count(app, User) == before


@pytest.mark.parametrize("missing", ["name", "email", "phone", "role", "password"])
def test_user_required_fields(as_user, org, missing) -> None:
    body = new_user(org.team.id)
    del body[missing]
    assert_error(as_user(org.admin).post("/api/v1/users", json=body), 422, missing)


@pytest.mark.parametrize("role", ["practitioner", "manager"])
def test_practitioners_and_managers_need_a_team(as_user, org, app, role) -> None:
    before = count(app, User)
    for body in (
        new_user(None, role=role),
        {k: v for k, v in new_user(None, role=role).items() if k != "team_id"},
    ):
        assert_error(as_user(org.admin).post("/api/v1/users", json=body), 422, "team_id")
    assert count(app, User) == before


@pytest.mark.parametrize("role", ["hs_lead", "admin"])
def test_leads_and_admins_need_no_team(as_user, org, role) -> None:
    response = as_user(org.admin).post("/api/v1/users", json=new_user(None, role=role))
    assert response.status_code == 201
    assert response.get_json()["team_id"] is None


def test_unknown_team_is_422(as_user, org) -> None:
    assert_error(as_user(org.admin).post("/api/v1/users", json=new_user(999999)), 422, "team_id")


def test_duplicate_email_is_409_whatever_its_case(as_user, org, app) -> None:
    before = count(app, User)
    response = as_user(org.admin).post(
        "/api/v1/users", json=new_user(org.team.id, email=org.colleague.email.upper())
    )
    assert_error(response, 409, "email")
    assert count(app, User) == before


def test_admin_marks_a_user_on_call_and_off(as_user, org, app) -> None:
    admin = as_user(org.admin)

    response = admin.patch(f"/api/v1/users/{org.colleague.id}", json={"on_call": True})
    assert response.status_code == 200
    assert response.get_json()["on_call"] is True
    with session(app) as s:
        assert s.get(User, org.colleague.id).on_call is True

    response = admin.patch(f"/api/v1/users/{org.colleague.id}", json={"on_call": False})
    assert response.get_json()["on_call"] is False


def test_admin_corrects_a_phone(as_user, org) -> None:
    response = as_user(org.admin).patch(f"/api/v1/users/{org.colleague.id}", json={"phone": "07700 900777"})
    assert response.status_code == 200
    assert response.get_json()["phone"] == "+447700900777"


def test_bad_patch_changes_nothing(as_user, org, app) -> None:
    response = as_user(org.admin).patch(
        f"/api/v1/users/{org.colleague.id}", json={"on_call": True, "phone": "not a phone"}
    )
    assert_error(response, 422, "phone")
    with session(app) as s:
        user = s.get(User, org.colleague.id)
        assert user.on_call is False
        assert user.phone == org.colleague.phone


@pytest.mark.parametrize(
    "body", [{"on_call": "yes please"}, {"role": "admin"}, {"password": "new password!"}]
)
def test_patch_body_is_validated(as_user, org, body) -> None:
    assert_error(as_user(org.admin).patch(f"/api/v1/users/{org.colleague.id}", json=body), 422, *body)


def test_patch_unknown_user_is_404(as_user, org) -> None:
    assert_error(as_user(org.admin).patch("/api/v1/users/999999", json={"on_call": True}), 404)


def test_names_are_stored_without_surrounding_blanks(as_user, org) -> None:
    admin = as_user(org.admin)
    team = admin.post("/api/v1/teams", json={"name": "  Eastside Adults "}).get_json()
    user = admin.post("/api/v1/users", json=new_user(team["id"], name="  Nia Newstarter\t")).get_json()
    assert (team["name"], user["name"]) == ("Eastside Adults", "Nia Newstarter")


def test_a_change_with_nothing_to_change_is_422(as_user, org) -> None:
    """The body is required and must name a field (the OpenAPI document says minProperties: 1)."""
    admin = as_user(org.admin)
    assert_error(admin.patch(f"/api/v1/users/{org.colleague.id}", json={}), 422, "_schema")
    assert_error(admin.patch(f"/api/v1/users/{org.colleague.id}"), 422, "_schema")
