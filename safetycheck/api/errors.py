"""One JSON error shape everywhere: `{code, status, message, errors}`."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from safetycheck.db import unique_violation
from safetycheck.errors import DomainError
from safetycheck.extensions import db

log = logging.getLogger(__name__)

_LOCATIONS = ("json", "query", "querystring", "form", "headers", "files", "view_args")


def error_body(code: int, status: str, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "status": status, "message": message, "errors": errors or {}}


def _flatten_locations(errors: dict[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location (`{"json": {"field": [...]}}`); clients want the field."""
    flat: dict[str, Any] = {}
    for key, value in errors.items():
        if key in _LOCATIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


class SafetyCheckApi(Api):  # type: ignore[misc]  # flask-smorest ships no types
    """flask-smorest's Api with an error handler that keeps Werkzeug's headers (Allow on 405)."""

    def handle_http_exception(self, error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
        code = error.code or 500
        headers: dict[str, str] = {}
        for name, value in error.get_headers():  # Allow, WWW-Authenticate, Retry-After …
            if name.lower() != "content-type":
                headers[name] = value
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages") or {}
        if errors:
            errors = _flatten_locations(errors)
        message = data.get("message") or (
            "The request body or parameters are invalid." if code == 422 else error.description or error.name
        )
        if isinstance(error, InternalServerError):
            message = "Something went wrong on our side; it has been logged."
        headers.update(data.get("headers") or {})
        return error_body(code, error.name, message, errors), code, headers


# The one Api object. Our subclass: its error handler keeps Werkzeug's headers and always answers
# the one error shape with `message` and flat, field-named `errors` (the stock handler does neither).
api = SafetyCheckApi()


def register_error_handlers(app: Flask) -> None:
    """Domain errors, unique keys taken concurrently and unexpected failures become the JSON shape."""
    app.register_error_handler(DomainError, json_domain_error)
    app.register_error_handler(sa.exc.IntegrityError, json_integrity_error)
    app.register_error_handler(Exception, json_unexpected_error)


def json_domain_error(error: DomainError) -> tuple[Response, int]:

    db.session.rollback()  # bad input changes nothing
    status = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}
    body = error_body(
        error.http_status,
        status.get(error.http_status, "Bad Request"),
        error.message,
        error.errors,
    )
    return jsonify(body), error.http_status


def json_integrity_error(error: sa.exc.IntegrityError) -> tuple[Response, int]:
    """A unique key taken by a request that committed first: a conflict, not a crash.

    Services that check a key first name the field themselves; this catches the rest.
    """
    if unique_violation(error) is None:
        return json_unexpected_error(error)

    log.warning("unique key taken by a concurrent request: %s", error.orig)
    db.session.rollback()
    body = error_body(
        409, "Conflict", "Another request saved the same thing at the same moment; reload and try again."
    )
    return jsonify(body), 409


def json_unexpected_error(error: Exception) -> tuple[Response, int]:

    log.exception("unhandled error")
    db.session.rollback()
    body = error_body(500, "Internal Server Error", "Something went wrong on our side; it has been logged.")
    return jsonify(body), 500
