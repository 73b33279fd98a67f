"""Domain errors: raised by services, turned into the one JSON error shape by `api/errors.py`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    http_status = 400

    def __init__(
        self, message: str, errors: Mapping[str, Sequence[str] | Mapping[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


class NotFound(DomainError):
    """The record does not exist or lies outside the caller's reach (the two look alike)."""

    http_status = 404


class Forbidden(DomainError):
    """The record is in reach but this caller may not do this to it."""

    http_status = 403


class Conflict(DomainError):
    """The request conflicts with the current state or a rule (an active visit, a restriction)."""

    http_status = 409


class InvalidTransition(Conflict):
    """A status change that the workflow does not allow from the current status."""


class ValidationFailed(DomainError):
    """Input that passed the schema but breaks a domain rule; `errors` names the field."""

    http_status = 422
