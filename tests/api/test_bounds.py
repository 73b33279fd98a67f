"""Every integer a request carries is bounded: 404 for an id no row can have, 422 for the rest.

Unbounded, a number past 64 bits reached the database and failed there with a 500 (on both
databases). The checks walk the app's routes and its OpenAPI document, so a new route or field
with an unbounded integer fails here without anyone remembering to add a case.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.routing.converters import NumberConverter

from safetycheck.api.openapi import IdConverter
from tests.assertions import assert_error

HUGE = 1061553938548275675136  # past 64 bits
BEYOND_ID = 2**31  # one past the largest PostgreSQL `integer`


@pytest.fixture
def spec(client) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()


def api_rules(app) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")]


def test_every_number_in_a_url_is_a_bounded_id(app) -> None:
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if isinstance(converter, NumberConverter):
                assert isinstance(converter, IdConverter), (
                    f"{rule.rule}: use <id:{name}>, not an unbounded int"
                )


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def integers(spec: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...] = ()) -> list[tuple]:
    """The integers of a request body: (path to it, `0` for a list's first item; its schema)."""
    schema = resolve(spec, schema)
    if schema.get("type") == "integer":
        return [(path, schema)]
    if schema.get("type") == "array" or "items" in schema:
        return integers(spec, schema.get("items", {}), (*path, 0))
    found = []
    for name, sub in (schema.get("properties") or {}).items():
        found += integers(spec, sub, (*path, name))
    for sub in schema.get("allOf", []) + schema.get("anyOf", []) + schema.get("oneOf", []):
        found += integers(spec, sub, path)
    return found


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                out.append(
                    (path, method, operation, item.get("parameters", []) + operation.get("parameters", []))
                )
    return out


def test_the_openapi_document_states_the_bounds_of_every_integer_a_request_carries(spec) -> None:
    unbounded = []
    for path, method, operation, parameters in operations(spec):
        for parameter in parameters:
            schema = resolve(spec, parameter.get("schema", {}))
            if schema.get("type") == "integer" and not {"minimum", "maximum"} <= set(schema):
                unbounded.append(f"{method} {path} {parameter['in']} {parameter['name']}")
        for media in operation.get("requestBody", {}).get("content", {}).values():
            for where, schema in integers(spec, media["schema"]):
                if not {"minimum", "maximum"} <= set(schema):
                    unbounded.append(f"{method} {path} body {'.'.join(map(str, where))}")
    assert unbounded == []


def test_ids_beyond_any_row_are_404_on_every_route(app, as_user, org) -> None:
    clients = [as_user(org.admin), as_user(org.practitioner), as_user(org.manager)]
    tried = 0
    for rule in api_rules(app):
        if not rule.arguments:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for value in (HUGE, BEYOND_ID, 0, "\u0661"):  # and Arabic-Indic one, which int() reads as 1
                url = re.sub(r"<[^>]+>", str(value), rule.rule)
                for client in clients:
                    response = getattr(client, method.lower())(
                        url, **({} if method == "GET" else {"json": {}})
                    )
                    assert response.status_code == 404, (method, url, response.get_json())
                    assert_error(response, 404)
                    tried += 1
    assert tried > 100  # visits, alarms, incidents and their procedure, markers, households, users


def test_integer_query_parameters_beyond_their_bounds_are_422_naming_them(spec, as_user, org) -> None:
    admin = as_user(org.admin)
    tried = []
    for path, method, _operation, parameters in operations(spec):
        if "{" in path:
            continue
        for parameter in parameters:
            schema = resolve(spec, parameter.get("schema", {}))
            if parameter["in"] == "query" and schema.get("type") == "integer":
                response = getattr(admin, method)(f"{path}?{parameter['name']}={HUGE}")
                assert_error(response, 422, parameter["name"])
                tried.append(f"{path}?{parameter['name']}")
    assert "/api/v1/visits?page" in tried
    assert "/api/v1/incidents?team_id" in tried


def body_with(where: tuple[Any, ...], value: int) -> Any:
    if not where:
        return value
    step, rest = where[0], where[1:]
    return [body_with(rest, value)] if step == 0 else {step: body_with(rest, value)}


def named(errors: Any, where: tuple[Any, ...]) -> bool:
    for step in where:
        if not isinstance(errors, dict):
            return False
        errors = errors.get(step, errors.get(str(step)))
    return bool(errors)


def test_integer_body_fields_beyond_their_bounds_are_422_naming_them(spec, as_user, org) -> None:
    """As every role that may call the operation, so the check is not cut short by a 403."""
    callers = [as_user(user) for user in (org.practitioner, org.manager, org.lead, org.admin)]
    tried = []
    for path, method, operation, _parameters in operations(spec):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            for where, _schema in integers(spec, media["schema"]):
                url = re.sub(r"\{[^}]+\}", "1", path)
                answers = [getattr(c, method)(url, json=body_with(where, HUGE)) for c in callers]
                refused = [a for a in answers if a.status_code == 422]
                assert all(a.status_code in (403, 404, 422) for a in answers), (path, where)
                if refused:
                    assert named(refused[0].get_json()["errors"], where), (path, where, refused[0].get_json())
                    tried.append(f"{method} {path} {'.'.join(map(str, where))}")
    assert "post /api/v1/visits duration_minutes" in tried
    assert "post /api/v1/alarms visit_id" in tried


def test_the_issues_examples(as_user, org) -> None:
    priya = as_user(org.practitioner)
    assert_error(priya.get("/api/v1/visits/1061553938548275675136"), 404)
    assert_error(priya.get("/api/v1/visits?page=13441939802383306752"), 422, "page")
    response = priya.post(
        "/api/v1/visits", json={"address": "1 High St", "duration_minutes": 60524513893292179456}
    )
    assert_error(response, 422, "duration_minutes")
