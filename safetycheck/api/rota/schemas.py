"""Request and response schemas for the on-call rota: layers, rotations, members, overrides."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from safetycheck.accounts.rota import DAY_NAMES, parse_clock
from safetycheck.accounts.rota_models import ShiftUnit
from safetycheck.api.common import BoundedInteger, Id, Name, StrictSchema

CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class Clock(fields.String):
    """A time of day as HH:MM in the service's time zone."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=validate.Regexp(CLOCK, error="Give a time of day as HH:MM, e.g. 17:00."),
            metadata={"pattern": CLOCK, "example": "17:00"},
            **kwargs,
        )


class ClockTime(fields.String):
    """HH:MM loaded as a `time`, dumped as HH:MM (checked before loading, so no validator sees a time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"pattern": CLOCK, "example": "09:00"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(CLOCK, text):
            raise ma.ValidationError("Give a time of day as HH:MM, e.g. 09:00.")
        return parse_clock(text)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{value:%H:%M}"


class WindowSchema(StrictSchema):
    days = fields.List(
        fields.String(validate=validate.OneOf(DAY_NAMES)),
        required=True,
        validate=validate.Length(min=1, max=7),
    )
    from_ = Clock(required=True, data_key="from", attribute="from")
    until = Clock(required=True)


class LayerSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    priority = fields.Integer()
    windows = fields.List(fields.Nested(WindowSchema), allow_none=True)


class LayerCreateSchema(StrictSchema):
    name = Name(required=True)
    priority = BoundedInteger(minimum=1, maximum=1000, required=True)
    windows = fields.List(
        fields.Nested(WindowSchema),
        allow_none=True,
        load_default=None,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "When the layer applies; null or left out: always"},
    )


class LayerUpdateSchema(LayerCreateSchema):
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    name = Name()
    priority = BoundedInteger(minimum=1, maximum=1000)
    windows = fields.List(
        fields.Nested(WindowSchema), allow_none=True, validate=validate.Length(min=1, max=50)
    )

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_schema")


class PersonSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String()


class MemberSchema(StrictSchema):
    position = fields.Integer()
    user = fields.Nested(PersonSchema)


class RotationSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    team_id = fields.Integer(allow_none=True)
    layer_id = fields.Integer(allow_none=True)
    handover_time = ClockTime()
    shift_length = fields.Integer()
    shift_unit = fields.Enum(ShiftUnit, by_value=True)
    starts_on = fields.Date()
    members = fields.List(fields.Nested(MemberSchema))


class RotationCreateSchema(StrictSchema):
    name = Name(required=True)
    team_id = Id(allow_none=True, load_default=None, metadata={"description": "null: across every team"})
    layer_id = Id(allow_none=True, load_default=None, metadata={"description": "null: the base layer"})
    handover_time = ClockTime(required=True)
    shift_length = BoundedInteger(minimum=1, maximum=24 * 28, required=True)
    shift_unit = fields.Enum(ShiftUnit, by_value=True, required=True)
    starts_on = fields.Date(required=True)
    user_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=100))


class RotationUpdateSchema(StrictSchema):
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    name = Name()
    team_id = Id(allow_none=True)
    layer_id = Id(allow_none=True)
    handover_time = ClockTime()
    shift_length = BoundedInteger(minimum=1, maximum=24 * 28)
    shift_unit = fields.Enum(ShiftUnit, by_value=True)
    starts_on = fields.Date()

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_schema")


class MembersSchema(StrictSchema):
    user_ids = fields.List(Id(), required=True, validate=validate.Length(max=100))


class RotationQueryArgsSchema(ma.Schema):
    team_id = Id(strict=False)


class OverrideSchema(StrictSchema):
    id = fields.Integer()
    user = fields.Nested(PersonSchema)
    team_id = fields.Integer(allow_none=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    note = fields.String(allow_none=True)


class OverrideCreateSchema(StrictSchema):
    user_id = Id(required=True)
    team_id = Id(allow_none=True, load_default=None, metadata={"description": "null: every team"})
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))


class OnCallQueryArgsSchema(ma.Schema):
    team_id = Id(
        strict=False, metadata={"description": "Left out: your team (a manager), else cross-team cover only"}
    )
    at = fields.AwareDateTime(metadata={"description": "Default: now"})


class NextOnCallSchema(StrictSchema):
    at = fields.AwareDateTime()
    people = fields.List(fields.Nested(PersonSchema))


class OnCallSchema(StrictSchema):
    team_id = fields.Integer(allow_none=True)
    at = fields.AwareDateTime()
    current = fields.List(fields.Nested(PersonSchema))
    next = fields.Nested(NextOnCallSchema, allow_none=True)


class GapSchema(StrictSchema):
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()


class GapsSchema(StrictSchema):
    team_id = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(GapSchema))
