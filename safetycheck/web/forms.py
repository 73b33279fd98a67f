"""Form helpers shared by every page: domain errors onto fields, and the checks we reuse.

WTForms checks only what a form needs to be read (present, not too long, the right type); the
rules themselves (a valid E.164 phone, a unique email, a team for a practitioner) stay in the
domain services, which raise `ValidationFailed`/`Conflict` naming the field. `apply_domain_error`
puts those messages on the form's fields, so the error summary names and links them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_wtf import FlaskForm
from marshmallow import ValidationError as MarshmallowError
from marshmallow import validate
from wtforms import Field
from wtforms.validators import ValidationError

from safetycheck.errors import DomainError

_email = validate.Email()


class EmailAddress:
    """The API's email rule (marshmallow's), so a page accepts exactly what the API accepts."""

    def __init__(self, message: str = "Enter an email address in the correct format, like name@example.org"):
        self.message = message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            return
        try:
            _email(field.data.strip())
        except MarshmallowError as exc:
            raise ValidationError(self.message) from exc


def apply_domain_error(form: FlaskForm, error: DomainError, fields: Mapping[str, str] | None = None) -> None:
    """Show a service's error on the form: each named field gets its messages (`fields` maps a
    service's name to the form's, e.g. {"user": "name"}); the rest go to the summary only."""
    rename = dict(fields or {})
    placed = False
    for key, messages in error.errors.items():
        texts = _texts(messages)
        field = form._fields.get(rename.get(key, key))
        if field is not None and field.name != "csrf_token":
            field.errors = [*field.errors, *texts]
            placed = True
        else:
            form.form_errors.extend(texts)
            placed = True
    if not placed:
        form.form_errors.append(error.message)


def _texts(messages: Any) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [t for value in messages.values() for t in _texts(value)]
    return [str(m) for m in messages]


class ActionForm(FlaskForm):
    """A form that is only a button (Unlock, Deactivate…): the CSRF token is its one field."""
