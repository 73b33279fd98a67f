"""Signing in and out, the bearer token rules, /me and the duress PIN."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from safetycheck.accounts.models import ApiToken, User
from tests import factories
from tests.assertions import assert_error, count, session

TOKENS = "/api/v1/auth/tokens"


def sign_in(client, user, *, password: str = factories.PASSWORD, device: str = "Pixel 7"):
    return client.post(TOKENS, json={"email": user.email, "password": password, "device": device})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sign_in_answers_token_expiry_and_user(client, clock, org, app) -> None:
    response = sign_in(client, org.practitioner)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert len(body["token"]) >= 32
    ttl = timedelta(days=app.config["TOKEN_TTL_DAYS"])
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + ttl
    assert body["user"] == {
        "id": org.practitioner.id,
        "name": "Priya Practitioner",
        "email": org.practitioner.email,
        "phone": org.practitioner.phone,
        "role": "practitioner",
        "team_id": org.team.id,
    }


def test_sign_in_stores_only_a_digest_of_the_token_named_by_device(client, org, app) -> None:
    body = sign_in(client, org.practitioner, device="Work iPhone").get_json()

    with session(app) as s:
        record = s.scalars(sa.select(ApiToken).where(ApiToken.user_id == org.practitioner.id)).one()
    assert record.device == "Work iPhone"
    assert body["token"] not in record.token_hash
    assert len(record.token_hash) == 64


def test_sign_in_email_is_case_insensitive(client, org) -> None:
    response = client.post(
        TOKENS, json={"email": org.practitioner.email.upper(), "password": factories.PASSWORD, "device": "x"}
    )
    assert response.status_code == 201


def test_wrong_password_and_unknown_email_look_alike(client, org, app) -> None:
    wrong_password = sign_in(client, org.practitioner, password="not the password")
    unknown_email = client.post(
        TOKENS, json={"email": "nobody@example.test", "password": factories.PASSWORD, "device": "x"}
    )

    first = assert_error(wrong_password, 422)
    second = assert_error(unknown_email, 422)
    assert first["message"] == second["message"]
    assert first["errors"] == second["errors"]
    assert count(app, ApiToken) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x", "device": "x"}, "email"),
        ({"email": "not-an-email", "password": "x", "device": "x"}, "email"),
        ({"email": "a@example.test", "device": "x"}, "password"),
        ({"email": "a@example.test", "password": "x"}, "device"),
        ({"email": "a@example.test", "password": "x", "device": "x", "remember": True}, "remember"),
    ],
)
def test_sign_in_body_is_validated(client, body, field) -> None:
    assert_error(client.post(TOKENS, json=body), 422, field)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer not-a-real-token",
    ],
    ids=["missing", "empty", "scheme-only", "blank-token", "basic", "other-scheme", "wrong-token"],
)
def test_requests_without_a_valid_token_get_401(client, org, header) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)

    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_expires_after_the_configured_days(client, clock, org, app) -> None:
    token = sign_in(client, org.practitioner).get_json()["token"]
    ttl = timedelta(days=app.config["TOKEN_TTL_DAYS"])

    clock.advance(ttl - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200

    clock.advance(seconds=1)
    response = client.get("/api/v1/me", headers=bearer(token))
    assert_error(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_signing_out_revokes_only_this_device(client, org) -> None:
    phone = sign_in(client, org.practitioner, device="phone").get_json()["token"]
    tablet = sign_in(client, org.practitioner, device="tablet").get_json()["token"]

    response = client.delete(f"{TOKENS}/current", headers=bearer(phone))
    assert response.status_code == 204
    assert response.get_data() == b""

    assert_error(client.get("/api/v1/me", headers=bearer(phone)), 401)
    assert_error(client.delete(f"{TOKENS}/current", headers=bearer(phone)), 401)
    assert client.get("/api/v1/me", headers=bearer(tablet)).status_code == 200


def test_admin_revokes_every_token_of_a_user(client, as_user, org) -> None:
    phone = sign_in(client, org.practitioner, device="phone").get_json()["token"]
    tablet = sign_in(client, org.practitioner, device="tablet").get_json()["token"]
    colleague = sign_in(client, org.colleague).get_json()["token"]

    response = as_user(org.admin).delete(f"/api/v1/users/{org.practitioner.id}/tokens")

    assert response.status_code == 200
    assert response.get_json() == {"revoked": 2}
    for token in (phone, tablet):
        assert_error(client.get("/api/v1/me", headers=bearer(token)), 401)
    assert client.get("/api/v1/me", headers=bearer(colleague)).status_code == 200
    # Signing in again works: a lost phone is replaced, the person is not locked out.
    assert sign_in(client, org.practitioner).status_code == 201


def test_only_admins_revoke_tokens_and_unknown_users_are_404(as_user, org) -> None:
    assert_error(as_user(org.manager).delete(f"/api/v1/users/{org.practitioner.id}/tokens"), 403)
    assert_error(as_user(org.admin).delete("/api/v1/users/999999/tokens"), 404)


def test_inactive_user_cannot_sign_in_or_use_a_token(client, org, app) -> None:
    token = sign_in(client, org.practitioner).get_json()["token"]
    with session(app) as s:
        s.get(User, org.practitioner.id).active = False
        s.commit()

    assert_error(client.get("/api/v1/me", headers=bearer(token)), 401)
    assert_error(sign_in(client, org.practitioner), 422)


def test_me_has_exactly_the_contract_fields(as_user, org) -> None:
    for user in (org.practitioner, org.lead):
        response = as_user(user).get("/api/v1/me")
        assert response.status_code == 200
        assert response.get_json() == {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "phone": user.phone,
            "role": user.role.value,
            "team_id": user.team_id,
        }


def test_set_duress_pin_stores_it_hashed(as_user, org, app) -> None:
    response = as_user(org.colleague).put("/api/v1/me/duress-pin", json={"pin": "4821"})

    assert response.status_code == 204
    with session(app) as s:
        stored = s.get(User, org.colleague.id).duress_pin_hash
    assert stored is not None
    assert "4821" not in stored
    assert stored.startswith("$argon2")


@pytest.mark.parametrize(
    "pin",
    [
        "12a4",
        "123",
        "123456789",
        "",
        " 1234",
        1234,
        None,
        "\u0661\u0662\u0663\u0664",
        "\uff11\uff12\uff13\uff14",
        "1234\n",
    ],
    ids=["letter", "3", "9", "empty", "space", "number", "null", "arabic-indic", "fullwidth", "newline"],
)
def test_duress_pin_must_be_4_to_8_digits(as_user, org, app, pin) -> None:
    with session(app) as s:
        before = s.get(User, org.practitioner.id).duress_pin_hash

    response = as_user(org.practitioner).put("/api/v1/me/duress-pin", json={"pin": pin})

    assert_error(response, 422, "pin")
    with session(app) as s:
        assert s.get(User, org.practitioner.id).duress_pin_hash == before


@pytest.mark.parametrize("pin", ["1234", "12345678", "0000"])
def test_duress_pin_accepts_4_to_8_digits(as_user, org, pin) -> None:
    assert as_user(org.practitioner).put("/api/v1/me/duress-pin", json={"pin": pin}).status_code == 204
