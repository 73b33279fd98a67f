"""What the OpenAPI document says beyond the schemas: bounded path ids and the error responses.

Both are applied where routes are registered, not view by view, so a new route gets them too.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map

from safetycheck.api.common import ID_MAX

MUTATING = {"post", "put", "patch", "delete"}


class IdConverter(IntegerConverter):
    """`<id:visit_id>`: ASCII digits naming 1 to ID_MAX; any other id is a URL no row has (404).

    Werkzeug's `int` takes any length (a 22-digit id overflowed the database: 500) and any
    Unicode digit (Arabic-Indic one was visit 1).
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=ID_MAX)

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= ID_MAX:
            # Not ValidationError: where GET and PATCH share a path, Werkzeug would answer 405.
            raise NotFound()
        return number


def register_converters(app: Flask) -> None:
    """Before any route is added: rules resolve their converters when they are registered."""
    app.url_map.converters["id"] = IdConverter


class ErrorResponsesPlugin(BasePlugin):
    """Declare the errors each operation can answer, with the one error schema (`Error`).

    `login_required` declares 401, and 403 when it restricts roles. Here: 403 where a record in
    reach may still not be changed by this caller; 404 where a path or body names a record; 409
    on every change (a conflict with state or a rule, or a race on a unique key); 422 on every
    operation with a body or query parameters (flask-smorest adds it from `arguments`). The
    responses are flask-smorest's components (`UNAUTHORIZED`, `NOT_FOUND` ...).
    """

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        self.spec = spec

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        has_path_id = "{" in (path or "")
        for method, operation in (operations or {}).items():
            if method not in MUTATING | {"get"}:
                continue
            responses = operation.setdefault("responses", {})
            declared = {str(code) for code in responses}

            def declare(
                code: int, name: str, *, declared: set[str] = declared, responses: dict[str, Any] = responses
            ) -> None:
                if str(code) not in declared:
                    responses[str(code)] = name
                    declared.add(str(code))

            changes = method in MUTATING
            if operation.get("security") and has_path_id and changes:
                declare(403, "FORBIDDEN")
            if has_path_id or (changes and self._body_names_a_record(operation)):
                declare(404, "NOT_FOUND")
            if changes:
                declare(409, "CONFLICT")
            if operation.get("requestBody") or any(p.get("in") == "query" for p in _parameters(operation)):
                declare(422, "UNPROCESSABLE_ENTITY")

    def _body_names_a_record(self, operation: dict[str, Any]) -> bool:
        for media in (operation.get("requestBody") or {}).get("content", {}).values():
            schema = self._resolve(media.get("schema"))
            if any(name.endswith(("_id", "_ids")) for name in schema.get("properties", {})):
                return True
        return False

    def _resolve(self, schema: Any) -> dict[str, Any]:
        if isinstance(schema, dict) and "$ref" in schema:
            schema = schema["$ref"].rsplit("/", 1)[-1]
        if isinstance(schema, str):
            return self.spec.components.schemas.get(schema, {})
        return schema if isinstance(schema, dict) else {}


class SchemaNotesPlugin(BasePlugin):
    """Say in the document what the schemas enforce but apispec leaves out.

    A schema's `openapi_extra` (e.g. `{"minProperties": 1}` for a PATCH that must change
    something) is added to its component. A nullable nested object is rendered for OpenAPI 3.0
    as "any object or null", which let fuzzers and clients take `{}` for valid; the null branch
    now admits only null.
    """

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin):
                plugin.converter.add_attribute_function(_only_null_or_the_object)  # type: ignore[union-attr]

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        return dict(getattr(kwargs.get("schema"), "openapi_extra", None) or {}) or None


def _only_null_or_the_object(self: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    branches = ret.get("anyOf")
    if not branches:
        return {}
    fixed = [{**b, "enum": [None]} if b == {"type": "object", "nullable": True} else b for b in branches]
    return {"anyOf": fixed}


def _parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if isinstance(p, dict)]


def spec_kwargs() -> dict[str, Any]:
    """The arguments `Api.init_app` passes to apispec: bearer auth and the error responses."""
    return {
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "extra_plugins": [ErrorResponsesPlugin(), SchemaNotesPlugin()],
    }
