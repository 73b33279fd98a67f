"""Security headers on every answer (pages keep their nonce CSP), and CORS for a phone app on
another origin: preflights with Authorization and Idempotency-Key, and nothing for other origins."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from flask import Flask

from safetycheck.settings import ConfigError

APP_ORIGIN = "https://app.example.org"


@pytest.fixture
def cors(app: Flask) -> Iterator[None]:
    saved = app.config["CORS_ALLOWED_ORIGINS"]
    app.config["CORS_ALLOWED_ORIGINS"] = (APP_ORIGIN,)
    yield
    app.config["CORS_ALLOWED_ORIGINS"] = saved


@pytest.mark.parametrize(
    "path",
    ["/login", "/api/v1/me", "/api/v1/visits/1", "/healthz", "/openapi.json", "/nowhere", "/twilio/sms"],
)
def test_every_answer_has_the_security_headers(client, path) -> None:
    response = client.client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "Content-Security-Policy" in response.headers
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP in development


def test_pages_keep_their_nonce_csp_and_json_gets_one_that_allows_nothing(client) -> None:
    page = client.client.get("/login")
    assert "'nonce-" in page.headers["Content-Security-Policy"]
    api = client.client.get("/api/v1/me")
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert api.headers["X-Frame-Options"] == "DENY"


def test_hsts_over_https_and_in_production(app, client) -> None:
    assert (
        "max-age="
        in client.client.get("/healthz", base_url="https://localhost").headers["Strict-Transport-Security"]
    )
    saved, app.config["ENV"] = app.config["ENV"], "production"
    try:
        assert "Strict-Transport-Security" in client.client.get("/login").headers
    finally:
        app.config["ENV"] = saved


def test_a_preflight_from_the_allowed_origin_allows_the_token_and_idempotency_key(client, cors) -> None:
    response = client.client.options(
        "/api/v1/visits",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_the_real_request_from_the_allowed_origin_is_readable(as_user, org, cors) -> None:
    response = as_user(org.practitioner).get("/api/v1/me", headers={"Origin": APP_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers.get_all("Vary")


def test_other_origins_and_the_pages_get_no_cors(client, cors) -> None:
    other = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    preflight = client.client.options("/api/v1/visits", headers=other)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Headers" not in preflight.headers
    page = client.client.get("/login", headers={"Origin": APP_ORIGIN})
    assert "Access-Control-Allow-Origin" not in page.headers


def test_cors_is_off_by_default(client) -> None:
    response = client.client.options(
        "/api/v1/visits", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_allowed_origins_come_from_the_environment_and_must_be_origins(monkeypatch, base_config) -> None:
    from safetycheck import create_app

    monkeypatch.setenv("SAFETYCHECK_CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example:8443/")
    app = create_app(base_config)
    assert app.config["CORS_ALLOWED_ORIGINS"] == ("https://a.example", "https://b.example:8443")
    monkeypatch.setenv("SAFETYCHECK_CORS_ALLOWED_ORIGINS", "https://a.example/app")
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
        create_app(base_config)
    monkeypatch.setenv("SAFETYCHECK_CORS_ALLOWED_ORIGINS", "")
    monkeypatch.setenv("SAFETYCHECK_RATELIMIT_ENABLED", "false")
    assert create_app(base_config).config["RATELIMIT_ENABLED"] is False
    monkeypatch.setenv("SAFETYCHECK_RATELIMIT_ENABLED", "maybe")
    with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
        create_app(base_config)
    monkeypatch.setenv("SAFETYCHECK_RATELIMIT_ENABLED", "true")
    monkeypatch.setenv("SAFETYCHECK_RATELIMIT_INCIDENTS_PER_USER", "lots")
    with pytest.raises(ConfigError, match="RATELIMIT_INCIDENTS_PER_USER"):
        create_app(base_config)


def test_behind_a_trusted_proxy_the_clients_address_counts_and_https_gives_hsts(base_config) -> None:
    from safetycheck import create_app, limits
    from safetycheck.extensions import db
    from tests.edge.test_limits import forget_failures

    app = create_app(base_config | {"TRUSTED_PROXIES": 1, "RATELIMIT_SIGNIN_PER_ADDRESS": "1 per minute"})
    limits.reset(app)
    client = app.test_client()
    email = f"proxy-{secrets.token_hex(4)}@example.test"
    body = {"email": email, "password": "wrong-password", "device": "x"}

    def sign_in(address: str) -> int:
        headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
        response = client.post("/api/v1/auth/tokens", json=body, headers=headers)
        assert "Strict-Transport-Security" in response.headers
        return response.status_code

    assert [sign_in("198.51.100.1"), sign_in("198.51.100.2"), sign_in("198.51.100.1")] == [422, 422, 429]
    forget_failures(app, email)
    with app.app_context():
        db.engine.dispose()
