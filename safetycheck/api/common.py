"""Schema pieces and helpers shared by several resources."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import flask
import flask_smorest
import marshmallow as ma
import sqlalchemy as sa
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser, abort

from safetycheck.accounts.service import PIN_PATTERN
from safetycheck.extensions import db

# Every id column is a PostgreSQL `integer`: no row can have an id above this.
ID_MAX = 2**31 - 1
# Any other whole number a request carries (minutes, counts) fits the same 32 bits; the service's
# own limits (the longest visit, the largest extension) are narrower and checked there.
INTEGER_MAX = 2**31 - 1
PAGE_MAX = 100_000


class BoundedInteger(fields.Integer):
    """A whole number within stated bounds (in the OpenAPI document too); beyond them, 422.

    Unbounded, a number past 64 bits reaches the database and fails there with a 500. JSON
    bodies are strict (2.5 and "5" are refused); query strings, which are text, are not.
    """

    def __init__(
        self, *, minimum: int = 0, maximum: int = INTEGER_MAX, strict: bool = True, **kwargs: Any
    ) -> None:
        extra = kwargs.pop("validate", None) or []
        bounds = validate.Range(min=minimum, max=maximum, error="Must be a whole number from {min} to {max}.")
        super().__init__(strict=strict, validate=[bounds, *([extra] if callable(extra) else extra)], **kwargs)


class Id(BoundedInteger):
    """The id of a record, in a body or a query string (path ids use the `id` URL converter)."""

    def __init__(self, *, strict: bool = True, **kwargs: Any) -> None:
        super().__init__(minimum=1, maximum=ID_MAX, strict=strict, **kwargs)


class Name(fields.String):
    """A person's or team's name: stripped, and refused when nothing but blanks is left."""

    def __init__(self, *, max_length: int = 120, **kwargs: Any) -> None:
        metadata = {"pattern": r"\S", **kwargs.pop("metadata", {})}
        super().__init__(validate=validate.Length(min=1, max=max_length), metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ma.ValidationError("Must not be blank.")
        return text


def _ascii_pin(value: str) -> None:
    if not PIN_PATTERN.fullmatch(value):
        raise ma.ValidationError("Must be 4 to 8 digits, 0 to 9.")


class Pin(fields.String):
    """A duress PIN: 4 to 8 ASCII digits (no Arabic-Indic or other Unicode digits, no trailing newline)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=_ascii_pin, metadata={"pattern": "^[0-9]{4,8}$"}, **kwargs)


class JsonBodyParser(FlaskParser):
    """A body that is not JSON at all answers 422, like any other invalid body (webargs says 400)."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except ValueError as exc:  # JSONDecodeError, and a number past Python's 4300-digit limit
            self._handle_invalid_json_error(exc, req)

    def _handle_invalid_json_error(
        self, error: Exception, req: flask.Request, *args: Any, **kwargs: Any
    ) -> Any:
        problem = (
            "Not valid JSON: send one JSON object with the fields of this request."
            if isinstance(error, json.JSONDecodeError)
            else "A number in the body is too long to read."
        )
        message = "The request body could not be read as JSON."
        abort(422, exc=error, message=message, messages={"json": [problem]})


ViewT = TypeVar("ViewT", bound=Callable[..., Any])


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest ships no types
    """flask-smorest's Blueprint with our body parser; every API blueprint is one of these.

    flask-smorest ships no type information: its decorators are declared here as what they are
    to a caller (they keep the view callable), so that mypy still checks the views they wrap.
    """

    ARGUMENTS_PARSER = JsonBodyParser()

    def route(self, rule: str, *, parameters: Any = None, **options: Any) -> Callable[[ViewT], ViewT]:
        decorator: Callable[[ViewT], ViewT] = super().route(rule, parameters=parameters, **options)
        return decorator

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[ViewT], ViewT]:
        decorator: Callable[[ViewT], ViewT] = super().arguments(schema, **kwargs)
        return decorator

    def response(self, status_code: int, schema: Any = None, **kwargs: Any) -> Callable[[ViewT], ViewT]:
        decorator: Callable[[ViewT], ViewT] = super().response(status_code, schema, **kwargs)
        return decorator

    def alt_response(self, status_code: int, **kwargs: Any) -> Callable[[ViewT], ViewT]:
        decorator: Callable[[ViewT], ViewT] = super().alt_response(status_code, **kwargs)
        return decorator

    def doc(self, **kwargs: Any) -> Callable[[ViewT], ViewT]:
        decorator: Callable[[ViewT], ViewT] = super().doc(**kwargs)
        return decorator


class StrictSchema(ma.Schema):
    """Request bodies: unknown fields are errors, so a typo does not silently do nothing."""

    class Meta:
        unknown = ma.RAISE


class LocationSchema(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90), allow_nan=False)
    lon = fields.Float(required=True, validate=validate.Range(-180, 180), allow_nan=False)
    accuracy_m = fields.Float(validate=validate.Range(min=0), allow_nan=False, allow_none=True)


class TimelineEntrySchema(ma.Schema):
    """One entry of a visit's, alarm's or incident's append-only timeline."""

    event = fields.String()
    at = fields.AwareDateTime()
    actor_id = fields.Integer(allow_none=True)
    details = fields.Dict()


class PageArgsSchema(ma.Schema):
    page = BoundedInteger(minimum=1, maximum=PAGE_MAX, strict=False, load_default=1)
    per_page = BoundedInteger(minimum=1, maximum=200, strict=False, load_default=50)


class PageSchema(ma.Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


def paginate(query: sa.Select[Any], *, page: int, per_page: int) -> dict[str, Any]:
    """Run a select for one page; answers `{items, page, per_page, total}`."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "page": page, "per_page": per_page, "total": total or 0}


class StrictBoolean(fields.Boolean):
    """Only JSON true or false: "yes", 1 or "false" in a safety record is a client bug, not an answer."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise self.make_error("invalid", input=value)


def text_field(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class StrippedSchema(StrictSchema):
    """Strips free text and refuses text that is only blanks, naming the field."""

    _required_text: tuple[str, ...] = ()

    @ma.post_load
    def _strip(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for name, value in list(data.items()):
            if type(value) is str:  # not the StrEnum members that enum fields load
                data[name] = value.strip()
                if not data[name] and name in self._required_text:
                    raise ma.ValidationError({name: ["Must not be blank."]})
                if not data[name]:
                    data[name] = None
        return data
