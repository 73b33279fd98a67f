"""Security headers on every answer, and the CORS policy that lets a phone app on another origin
call the API.

Pages get their Content-Security-Policy (with its nonce) from `web.security`; here every answer,
page, API, webhook or ops alike, gets `X-Content-Type-Options`, `Referrer-Policy` and, over HTTPS
or in production, `Strict-Transport-Security`. JSON and other non-page answers also get a CSP
that allows nothing, since they are never meant to render.

CORS is off unless SAFETYCHECK_CORS_ALLOWED_ORIGINS names origins (comma-separated, exact
`scheme://host[:port]`). Only the API (`/api/`) answers cross-origin requests; it authenticates
with bearer tokens, never cookies, so no credentials are allowed and a page on an allowed origin
can do no more than its own token lets it.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

HSTS = "max-age=31536000; includeSubDomains"
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
CORS_PREFIX = "/api/"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key"
# What a script on another origin may read from an answer besides the simple headers.
CORS_EXPOSED_HEADERS = "Retry-After, Location, WWW-Authenticate"


def parse_origins(value: object) -> tuple[str, ...]:
    """The allowed origins of the setting, without trailing slashes."""
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = str(value or "").split(",")
    return tuple(item.strip().rstrip("/") for item in items if item.strip())


def _allowed_origin() -> str | None:
    origin = request.headers.get("Origin")
    if not origin or not request.path.startswith(CORS_PREFIX):
        return None
    return origin if origin in current_app.config["CORS_ALLOWED_ORIGINS"] else None


def answer_preflight() -> Response | None:
    """Answer a CORS preflight for the API before authentication (a preflight carries no token)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    if not request.path.startswith(CORS_PREFIX):
        return None
    response = Response(status=204)
    origin = _allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
        response.headers["Access-Control-Max-Age"] = str(current_app.config["CORS_MAX_AGE_SECONDS"])
    return response


def add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure or current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype != "text/html":
        headers.setdefault("Content-Security-Policy", NOTHING_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith(CORS_PREFIX):
        headers.add("Vary", "Origin")
        origin = _allowed_origin()
        if origin is not None:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    return response


def init_app(app: Flask) -> None:
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Only as many X-Forwarded-* hops as there are proxies: more would let a client pick its
        # own address (and so its own abuse-limit count).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.before_request(answer_preflight)
    app.after_request(add_headers)
