"""Bearer-token authentication for views, and the current user and clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest import abort

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import ApiToken, User
from safetycheck.clock import Clock
from safetycheck.db import commit_keeping_loaded
from safetycheck.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def clock() -> Clock:
    found: Clock = current_app.extensions["safetycheck.clock"]
    return found


def now() -> datetime:
    return clock().now()


def current_user() -> User:
    user: User = g.current_user
    return user


def current_token() -> ApiToken:
    token: ApiToken = g.current_token
    return token


def _unauthorised(message: str) -> None:
    abort(401, message=message, headers={"WWW-Authenticate": 'Bearer realm="safetycheck"'})


def login_required(*roles: Role) -> Callable[[F], F]:
    """Require a valid bearer token and, when roles are given, one of those roles (else 403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                _unauthorised("A bearer token is required (Authorization: Bearer <token>).")
            found = account_service.user_for_token(token.strip(), now=now())
            if found is None:
                _unauthorised("The token is invalid, expired or revoked.")
            assert found is not None
            g.current_user, g.current_token = found
            if db.session.is_modified(g.current_token):
                # last_used_at moved (at most once a minute): keep it even if the view only reads.
                # The token and its user stay loaded: expiring them would cost the view a reload.
                commit_keeping_loaded(db.session)
            if roles and g.current_user.role not in roles:
                abort(403, message="Your role cannot do this.")
            return view(*args, **kwargs)

        doc = getattr(wrapper, "_apidoc", {})
        manual = doc.setdefault("manual_doc", {})
        manual["security"] = BEARER_SECURITY
        responses = manual.setdefault("responses", {})
        responses[401] = "UNAUTHORIZED"
        if roles:
            responses[403] = "FORBIDDEN"
        wrapper._apidoc = doc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
