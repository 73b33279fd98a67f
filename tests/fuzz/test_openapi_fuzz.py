"""The API fuzzed from its own /openapi.json as each role, in process (schemathesis).

Every answer must match the document: no server error, a documented status code, content type
and headers, and a body that conforms to the documented schema (success or error shape); and
invalid input must be refused. Each
operation gets valid (positive) and invalid (negative) input, as a practitioner, a manager, a
health-and-safety lead and an admin of a seeded organisation. CI runs a few examples per
operation, role and mode; the long run is

    SAFETYCHECK_FUZZ_EXAMPLES=40 ./dev test tests/fuzz --no-cov

(over 10,000 cases, about 20 minutes; docs/security.md has its figures). Every failing operation is reported,
not only the first.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as sc
from schemathesis.generation import GenerationMode

from safetycheck.accounts import service as account_service
from safetycheck.extensions import db
from tests import factories
from tests.fuzz.conftest import CASES

EXAMPLES = int(os.environ.get("SAFETYCHECK_FUZZ_EXAMPLES", "2"))
ROLES = ("practitioner", "manager", "lead", "admin")
CHECKS = [
    sc.not_a_server_error,
    sc.status_code_conformance,
    sc.content_type_conformance,
    sc.response_headers_conformance,
    sc.response_schema_conformance,
]


@pytest.fixture
def no_limits(app: Flask) -> Any:
    """The fuzzer is load, not abuse: the abuse limits are tested in tests/edge."""
    app.config["RATELIMIT_ENABLED"] = False
    yield
    app.config["RATELIMIT_ENABLED"] = True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("role", ROLES)
def test_every_answer_matches_the_openapi_document(
    app: Flask, org: factories.Org, clock: Any, no_limits: Any, role: str, mode: GenerationMode
) -> None:
    user = {"practitioner": org.practitioner, "manager": org.manager, "lead": org.lead, "admin": org.admin}[
        role
    ]
    headers: dict[str, str] = {}

    def signed_in() -> dict[str, str]:
        """The role's token, issued again after a case revoked it (DELETE /users/{id}/tokens)."""
        with app.app_context():
            token = headers.get("Authorization", " ").split(" ")[1]
            if not token or account_service.user_for_token(token, now=clock.now()) is None:
                headers["Authorization"] = f"Bearer {factories.token_for(user, now=clock.now())}"
                db.session.commit()
        return headers

    # Invalid input must also be refused (a 4xx), never quietly accepted.
    checks = [*CHECKS, sc.negative_data_rejection] if mode == GenerationMode.NEGATIVE else CHECKS
    seeded = seed_records(app, org, clock)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE" and operation.path == "/api/v1/auth/tokens/current":
            continue  # signing itself out would turn every later case into a 401
        names = [p.name for p in operation.path_parameters]
        # Random ids mostly find nothing (404); with the seeded records' ids the real answers,
        # and their schemas, are checked too.
        batches: list[dict[str, Any] | None] = [None]
        if names and all(name in seeded for name in names):
            batches.append({name: seeded[name] for name in names})
        for path_parameters in batches:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=signed_in(), checks=checks)
                CASES["total"] += 1
                CASES[str(response.status_code)] += 1

            try:
                run()
            except Exception as exc:
                where = "seeded ids" if path_parameters else "any ids"
                failures.append(f"{operation.method.upper()} {operation.path} ({where}): {exc}"[:3000])
    assert not failures, "\n\n".join(failures)


def seed_records(app: Flask, org: factories.Org, clock: Any) -> dict[str, int]:
    """Team A's visit, panic alarm, incident with a marker and an action, its household, and a
    person: the ids the fuzzer tries besides random ones."""
    with app.app_context():
        tokens = {u.id: factories.token_for(u, now=clock.now()) for u in (org.practitioner, org.manager)}
    client = app.test_client()

    def post(user: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(url, json=body, headers={"Authorization": f"Bearer {tokens[user.id]}"})
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    worker, boss = org.practitioner, org.manager
    visit = post(worker, "/api/v1/visits", {"address": "1 Fuzz Street, Leeds", "duration_minutes": 60})
    alarm = post(worker, "/api/v1/alarms", {"kind": "panic"})
    report = {
        "occurred_at": clock.now().isoformat(),
        "category": "animal",
        "description": "Bitten by the dog.",
        "near_miss": False,
        "address": "1 Fuzz Street, Leeds",
    }
    incident = post(worker, "/api/v1/incidents", report)
    url = f"/api/v1/incidents/{incident['id']}"
    post(boss, f"{url}/acknowledge", {})
    marker = post(boss, f"{url}/markers", {"reason": "Dog bit staff.", "controls": ["joint_visit"]})
    due = (clock.now() + timedelta(days=7)).isoformat()
    action = post(boss, f"{url}/actions", {"title": "Review", "owner_id": boss.id, "due_at": due})
    return {
        "visit_id": visit["id"],
        "alarm_id": alarm["id"],
        "incident_id": incident["id"],
        "marker_id": marker["id"],
        "action_id": action["id"],
        "household_id": incident["household_id"],
        "user_id": org.colleague.id,
    }
