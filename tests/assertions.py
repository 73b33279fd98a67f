"""Assertions shared by the API tests: the one JSON error shape, and row counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask

from safetycheck.extensions import db

ERROR_KEYS = {"code", "status", "message", "errors"}


def assert_error(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """The response is the JSON error shape with this status, naming every given field."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    assert set(body) == ERROR_KEYS, body
    assert body["code"] == status
    assert isinstance(body["status"], str)
    assert body["status"]
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], dict)
    for field in fields:
        assert field in body["errors"], f"{field!r} not named in {body['errors']}"
    return body


@contextmanager
def session(app: Flask) -> Iterator[Any]:
    """A session of its own, like a separate request's, to read what the API really stored.

    API tests must not hold an app context around requests: a request reuses an active one, and
    would then share the test's session instead of getting its own.
    """
    with app.app_context():
        yield db.session


def count(app: Flask, *models: Any) -> tuple[int, ...] | int:
    """Rows in each model's table, read in a fresh session."""
    with session(app) as s:
        counts = tuple(s.scalar(sa.select(sa.func.count()).select_from(m)) or 0 for m in models)
    return counts[0] if len(counts) == 1 else counts
