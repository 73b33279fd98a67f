"""Signing in and out of the pages: landing pages, failures counted and locked like the API's,
sessions that end on sign-out, idling, their maximum, revoked tokens and deactivation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from safetycheck.accounts import signin
from safetycheck.accounts.models import SigninThrottle, WebSession
from tests.assertions import assert_error, session
from tests.factories import PASSWORD


def _failures(channel: str, reason: str = "wrong_credentials") -> float:
    return signin.SIGNIN_FAILURES.labels(channel, reason)._value.get()


@pytest.mark.parametrize(
    ("who", "home"),
    [("admin", "/admin"), ("manager", "/board"), ("lead", "/register"), ("practitioner", "/app")],
)
def test_each_role_lands_on_its_page(web, org, who, home) -> None:
    response = web.sign_in(getattr(org, who))
    assert response.location == home
    assert web.get("/").location == home
    assert web.get(home).status_code == 200


def test_the_start_page_sends_strangers_to_sign_in(web) -> None:
    assert web.get("/").location == "/login"
    page = web.get("/login").get_data(as_text=True)
    for text in ('<label class="govuk-label" for="email">', "Email", "Password", "Sign in"):
        assert text in page


def test_a_wrong_password_is_refused_counted_and_looks_like_an_unknown_email(web, org, app) -> None:
    before = _failures("web")
    wrong = web.post("/login", {"email": org.admin.email, "password": "not the password"})
    unknown = web.post("/login", {"email": "nobody@example.test", "password": "not the password"})

    for response in (wrong, unknown):
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "There is a problem" in page
        assert signin.WRONG_CREDENTIALS in page
    assert _failures("web") == before + 2
    with session(app) as s:
        counts = sorted(s.scalars(sa.select(SigninThrottle.failures)))
    assert counts == [1, 1]  # the unknown address is counted exactly like a real one
    assert web.get("/admin").location.startswith("/login")


def test_repeated_failures_lock_the_address_for_the_api_too(web, org, client, clock) -> None:
    for _ in range(4):
        assert web.post("/login", {"email": org.admin.email, "password": "wrong"}).status_code == 422
    locked = web.post("/login", {"email": org.admin.email, "password": "wrong"})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == 60
    assert "Try again after 09:01" in locked.get_data(as_text=True)

    # The right password is refused too while locked, on the web and on the API.
    refused = web.post("/login", {"email": org.admin.email, "password": PASSWORD})
    assert refused.status_code == 429
    api = client.post(
        "/api/v1/auth/tokens", json={"email": org.admin.email, "password": PASSWORD, "device": "x"}
    )
    assert_error(api, 429)
    assert int(api.headers["Retry-After"]) == 60

    clock.advance(seconds=61)
    assert web.post("/login", {"email": org.admin.email, "password": PASSWORD}).location == "/admin"


def test_the_lock_doubles_with_each_further_failure(web, org, clock) -> None:
    for _ in range(5):
        web.post("/login", {"email": org.lead.email, "password": "wrong"})
    clock.advance(seconds=61)
    again = web.post("/login", {"email": org.lead.email, "password": "wrong"})
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) == 120


def test_api_failures_count_towards_the_web_lock(client, web, org) -> None:
    before = _failures("api")
    for _ in range(5):
        client.post(
            "/api/v1/auth/tokens", json={"email": org.manager.email, "password": "wrong", "device": "x"}
        )
    assert _failures("api") == before + 5
    assert web.post("/login", {"email": org.manager.email, "password": PASSWORD}).status_code == 429


def test_signin_failures_are_on_metrics(client, web, org) -> None:
    web.post("/login", {"email": org.admin.email, "password": "wrong"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'safetycheck_signin_failures_total{channel="web",reason="wrong_credentials"}' in text


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/admin/teams", "/admin/teams"),
        ("https://evil.example/", "/admin"),
        ("//evil.example/", "/admin"),
        ("/\\evil.example", "/admin"),
        ("admin", "/admin"),
    ],
)
def test_next_goes_only_to_local_paths(web, org, target, landing) -> None:
    response = web.post(
        "/login", {"email": org.admin.email, "password": PASSWORD}, query_string={"next": target}
    )
    assert response.location == landing


def test_a_page_sends_a_stranger_to_sign_in_and_back(web, org) -> None:
    assert web.get("/admin/policy").location == "/login?next=/admin/policy"
    response = web.post("/login?next=/admin/policy", {"email": org.admin.email, "password": PASSWORD})
    assert response.location == "/admin/policy"


def test_sign_out_ends_the_session_on_the_server(web, org, app) -> None:
    web.sign_in(org.admin)
    cookie = web.client.get_cookie("safetycheck_session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    response = web.post("/logout")
    assert response.location == "/login"
    assert web.get("/admin").location.startswith("/login")

    # Replaying the old cookie does not bring the session back.
    web.client.set_cookie("safetycheck_session", cookie.value)
    assert web.get("/admin").location.startswith("/login")
    with session(app) as s:
        assert s.scalar(sa.select(WebSession.ended_at)) is not None


def test_a_session_ends_after_idling_and_at_its_maximum(web_as, org, clock) -> None:
    idle = web_as(org.admin)
    clock.advance(minutes=119)
    assert idle.get("/admin").status_code == 200
    clock.advance(minutes=119)  # active every two hours: the idle timer restarts each time
    assert idle.get("/admin").status_code == 200
    clock.advance(minutes=121)
    assert idle.get("/admin").location.startswith("/login")
    assert "You have been signed out" in idle.get("/login").get_data(as_text=True)

    busy = web_as(org.admin)
    signed_in_at = clock.now()
    while clock.now() - signed_in_at < timedelta(hours=11, minutes=59):
        assert busy.get("/admin").status_code == 200
        clock.advance(minutes=59)
    clock.set(signed_in_at + timedelta(hours=12))
    assert busy.get("/admin").location.startswith("/login")  # at 12 hours, however busy


def test_revoking_tokens_ends_web_sessions_too(web_as, as_user, org) -> None:
    browser = web_as(org.manager)
    assert browser.get("/board").status_code == 200
    phone = as_user(org.manager)
    assert as_user(org.admin).delete(f"/api/v1/users/{org.manager.id}/tokens").status_code == 200

    assert browser.get("/board").location.startswith("/login")
    assert phone.get("/api/v1/me").status_code == 401


def test_a_session_cookie_is_secure_in_production(base_config) -> None:
    from safetycheck import create_app

    app = create_app({**base_config, "ENV": "production", "PUBLIC_URL": "https://sc.example"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
