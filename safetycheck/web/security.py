"""Security headers for pages, and the CSRF check every page form goes through.

The Content-Security-Policy allows scripts and styles only from this service, plus inline
scripts that carry this response's nonce (GOV.UK's one-line `js-enabled` snippet). So templates
must not contain inline scripts without `nonce="{{ csp_nonce() }}"`, `on*=` attributes or
`style=` attributes: the browser refuses them.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()  # checked in `protect_from_csrf`, for the pages only

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Swagger UI (flask-smorest's /docs) ships inline scripts; it keeps its own rules.
NO_PAGE_CSP_PREFIXES = ("/docs",)


def csp_nonce() -> str:
    """This response's nonce, made on first use."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def protect_from_csrf() -> None:
    """Refuse a page form posted without this session's CSRF token (400, nothing changes)."""
    if request.method in UNSAFE_METHODS:
        csrf.protect()


def _page_headers(response: Response) -> Response:
    if response.mimetype != "text/html" or request.path.startswith(NO_PAGE_CSP_PREFIXES):
        return response
    response.headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Pages show people's names, phones and incidents: keep them out of shared caches and the
    # back button after signing out.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_page_headers)
    app.add_template_global(csp_nonce)
