"""HTML error pages for the pages; the JSON error shape everywhere else (/api, webhooks, ops).

One handler per kind of error, registered over the API's: each asks `is_page_request()` and
either renders the page or hands the error to the API's JSON handler unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from safetycheck.api.errors import api, json_domain_error, json_integrity_error, json_unexpected_error
from safetycheck.db import unique_violation
from safetycheck.errors import DomainError
from safetycheck.extensions import db

log = logging.getLogger(__name__)

# Never pages, whatever the browser asks for.
JSON_PREFIXES = ("/api/", "/twilio/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")

TITLES = {
    400: "The form could not be sent",
    403: "You cannot open this page",
    404: "Page not found",
    405: "That cannot be done here",
    409: "That cannot be done now",
    413: "That is too large to send",
    422: "That could not be saved",
    429: "Too many attempts",
    500: "Sorry, there is a problem with the service",
}

EXPLANATIONS = {
    400: "Go back, reload the page and try again.",
    403: "Your role cannot open this page. If you think it should, ask an admin.",
    404: "If you typed the web address, check it is correct. If you followed a link, the record may "
    "not exist or may not be yours to see.",
    405: "Go back and use the page's own buttons.",
    500: "Try again later. The problem has been logged.",
}


def is_page_request() -> bool:
    """A request for a page: one the web blueprint serves, or a browser's request for a URL
    nothing serves (outside the API's, the webhooks' and the ops endpoints' paths)."""
    if request.path.startswith(JSON_PREFIXES):
        return False
    if request.blueprint == "web" or (request.blueprint or "").startswith("web."):
        return True
    if request.url_rule is None:
        return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    return False


def render_error_page(status: int, message: str | None = None) -> Response:
    title = TITLES.get(status, "Something went wrong")
    explanation = message or EXPLANATIONS.get(status, "")
    try:
        html = render_template("errors/error.html", status=status, title=title, explanation=explanation)
    except Exception:  # the page itself failed (the database is down?): still answer
        log.exception("error page %s could not be rendered", status)
        db.session.rollback()
        return Response(f"{title}. {explanation}", status=status, mimetype="text/plain")
    return Response(html, status=status)


def _http_error(error: HTTPException) -> Any:
    if not is_page_request():
        return api.handle_http_exception(error)
    status = error.code or 500
    message = None
    if isinstance(error, CSRFError):
        message = (
            "The form had expired or was sent from somewhere else, so nothing was changed. "
            "Go back, reload the page and try again."
        )
    response = render_error_page(status, message)
    for name, value in error.get_headers():
        if name.lower() in ("allow", "retry-after"):
            response.headers[name] = value
    return response


def _domain_error(error: DomainError) -> Any:
    if not is_page_request():
        return json_domain_error(error)
    db.session.rollback()  # nothing the request did is kept
    message = error.message if error.http_status in (409, 422) else None
    return render_error_page(error.http_status, message)


def _integrity_error(error: sa.exc.IntegrityError) -> Any:
    if not is_page_request():
        return json_integrity_error(error)
    if unique_violation(error) is None:
        return _unexpected(error)
    db.session.rollback()
    return render_error_page(
        409, "Someone else saved the same thing at the same moment. Go back, reload the page and try again."
    )


def _unexpected(error: Exception) -> Any:
    if not is_page_request():
        return json_unexpected_error(error)
    log.exception("unhandled error on a page")
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        pass
    return render_error_page(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(sa.exc.IntegrityError, _integrity_error)
    app.register_error_handler(Exception, _unexpected)
