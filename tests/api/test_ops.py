"""Operations endpoints and the API description: /healthz, /readyz, /metrics, /openapi.json, /docs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from safetycheck import create_app
from safetycheck.clock import FrozenClock
from safetycheck.extensions import db

# Every path of the contract's table that the foundation (and escalation) serve today.
CONTRACT_PATHS = {
    "/api/v1/auth/tokens": {"post"},
    "/api/v1/auth/tokens/current": {"delete"},
    "/api/v1/me": {"get"},
    "/api/v1/me/duress-pin": {"put"},
    "/api/v1/teams": {"post"},
    "/api/v1/users": {"post"},
    "/api/v1/visits": {"get", "post"},
    "/api/v1/visits/{visit_id}": {"get"},
    "/api/v1/visits/{visit_id}/extend": {"post"},
    "/api/v1/visits/{visit_id}/checkout": {"post"},
    "/api/v1/visits/{visit_id}/location": {"post"},
}


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_503_until_a_sweep_has_run_and_200_after(client, clock, sweep, console_sms) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["ok"] is True

    sweep()
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ready"


def test_metrics_are_prometheus_text(client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "# TYPE safetycheck_outbox_depth gauge" in response.get_data(as_text=True)


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_lists_every_api_path_absolutely(spec, app) -> None:
    paths = spec["paths"]
    for path, methods in CONTRACT_PATHS.items():
        assert path in paths, f"{path} missing from /openapi.json"
        assert methods <= set(paths[path]), (path, set(paths[path]))
    # Nothing is documented relative to a base path ...
    assert "servers" not in spec or all(s.get("url", "/") in ("", "/") for s in spec["servers"])
    assert all(p.startswith("/api/v1/") for p in paths)
    # ... and every /api/v1 route the app serves is documented.
    served = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
    }
    assert served == set(paths)


def test_openapi_documents_bearer_auth_and_the_idempotency_key(spec) -> None:
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    check_in = spec["paths"]["/api/v1/visits"]["post"]
    assert check_in["security"] == [{"bearerAuth": []}]
    assert "Idempotency-Key" in {p["name"] for p in check_in.get("parameters", [])}
    assert "security" not in spec["paths"]["/api/v1/auth/tokens"]["post"]


ERRORS = {
    "401": "UNAUTHORIZED",
    "403": "FORBIDDEN",
    "404": "NOT_FOUND",
    "409": "CONFLICT",
    "422": "UNPROCESSABLE_ENTITY",
}


def declared_errors(operation: dict[str, Any]) -> set[str]:
    return {code for code in operation["responses"] if code in ERRORS}


def test_openapi_error_responses_are_components_with_the_error_schema(spec) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "status", "message", "errors"}
    for name in ERRORS.values():
        response = spec["components"]["responses"][name]
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for code in declared_errors(operation):
                ref = {"$ref": f"#/components/responses/{ERRORS[code]}"}
                assert operation["responses"][code] == ref, (method, path, code)


def test_openapi_declares_the_errors_every_operation_can_answer(spec) -> None:
    """Mechanically, from what the operation is: authenticated, role-limited, on a record, a change."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            declared = declared_errors(operation)
            where = f"{method} {path}"
            if operation.get("security"):
                assert "401" in declared, where
            else:
                assert "401" not in declared, where
            if "{" in path:
                assert "404" in declared, where
            if method in {"post", "put", "patch", "delete"}:
                assert "409" in declared, where
            else:
                assert "409" not in declared, where
            takes_input = "requestBody" in operation or any(
                p["in"] == "query" for p in operation.get("parameters", [])
            )
            assert ("422" in declared) == takes_input, where


def test_openapi_error_responses_say_what_each_operation_is(spec) -> None:
    paths = spec["paths"]
    assert declared_errors(paths["/api/v1/auth/tokens"]["post"]) == {"409", "422"}
    assert declared_errors(paths["/api/v1/me"]["get"]) == {"401"}
    assert declared_errors(paths["/api/v1/teams"]["post"]) == {"401", "403", "409", "422"}
    assert declared_errors(paths["/api/v1/visits/{visit_id}"]["get"]) == {"401", "404"}
    assert declared_errors(paths["/api/v1/visits/{visit_id}/extend"]["post"]) == set(ERRORS)
    assert declared_errors(paths["/api/v1/alarms"]["post"]) == {"401", "403", "404", "409", "422"}
    assert "403" in declared_errors(paths["/api/v1/incidents/{incident_id}/reopen"]["post"])


def test_openapi_ids_in_paths_state_their_bounds(spec) -> None:
    [visit_id] = spec["paths"]["/api/v1/visits/{visit_id}"]["parameters"]
    assert visit_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


def test_docs_serve_swagger_ui_from_this_server(client) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/docs/static/swagger-ui-bundle.js" in assets
    assert all(a.startswith("/docs/static/") for a in assets if a.endswith((".js", ".css"))), assets
    assert "/openapi.json" in html
    for asset in assets:
        if asset.startswith("/docs/static/"):
            with client.get(asset) as served:
                assert served.status_code == 200, asset


def test_docs_static_serves_the_bundle_and_refuses_escapes(client) -> None:
    with client.get("/docs/static/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        assert bundle.mimetype in ("text/javascript", "application/javascript")
        assert len(bundle.get_data()) > 100_000
    assert client.get("/docs/static/nope.js").status_code == 404
    assert client.get("/docs/static/../../__init__.py").status_code == 404


@pytest.fixture
def unmigrated_app(tmp_path) -> Flask:
    """An app whose database exists but has no tables yet (before `flask db upgrade`)."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
            "SCHEDULER_ENABLED": False,
        },
        clock=FrozenClock(),
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def test_readyz_is_503_not_500_when_the_schema_is_missing(unmigrated_app) -> None:
    response = unmigrated_app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["sweep"]["ok"] is False


def test_openapi_says_a_change_must_name_a_field(spec) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("UserUpdate", "IncidentUpdate", "ActionUpdate", "SupportUpdate"):
        assert schemas[name]["minProperties"] == 1, name


def test_openapi_nullable_objects_are_null_or_the_object_not_any_object(spec) -> None:
    """apispec renders them for OpenAPI 3.0 as "any object or null", so `{}` looked valid."""
    location = spec["components"]["schemas"]["AlarmCreate"]["properties"]["location"]
    assert location == {
        "anyOf": [
            {"type": "object", "nullable": True, "enum": [None]},
            {"$ref": "#/components/schemas/Location"},
        ]
    }
