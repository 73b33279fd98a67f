"""The API fuzzed from its own /openapi.json as each role, in process (schemathesis).

Every answer must match the document: no server error, a documented status code, content type
and headers, and a body that conforms to the documented schema (success or error shape). Each
operation gets valid (positive) and invalid (negative) input, as a practitioner, a manager, a
health-and-safety lead and an admin of a seeded organisation. CI runs a few examples per
operation, role and mode; the long run is

    SAFETYCHECK_FUZZ_EXAMPLES=40 ./dev test tests/fuzz --no-cov

(over 10,000 cases, about 20 minutes; docs/security.md has its figures). Every failing operation is reported,
not only the first.
"""

from __future__ import annotations

import os
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

    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE" and operation.path == "/api/v1/auth/tokens/current":
            continue  # signing itself out would turn every later case into a 401

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call_and_validate(headers=signed_in(), checks=CHECKS)
            CASES["total"] += 1
            CASES[str(response.status_code)] += 1

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
