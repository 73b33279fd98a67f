"""Request and response schemas for tokens, teams and users."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from safetycheck.accounts.enums import Role
from safetycheck.accounts.service import MIN_PASSWORD_LENGTH
from safetycheck.api.common import Id, Name, PageArgsSchema, PageSchema, Pin, StrictSchema


class TokenCreateSchema(StrictSchema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    device = fields.String(required=True, validate=validate.Length(min=1, max=120))


class TeamCreateSchema(StrictSchema):
    name = Name(required=True)


class TeamSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()


class UserSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    phone = fields.String()
    role = fields.Enum(Role, by_value=True)
    team_id = fields.Integer(allow_none=True)
    on_call = fields.Boolean()
    phone_undeliverable = fields.Method("_undeliverable")
    phone_undeliverable_reason = fields.String(allow_none=True)

    def _undeliverable(self, user: object) -> bool:
        return getattr(user, "phone_undeliverable_at", None) is not None


class MeSchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    phone = fields.String()
    role = fields.Enum(Role, by_value=True)
    team_id = fields.Integer(allow_none=True)


class TokenSchema(StrictSchema):
    token = fields.String()
    expires_at = fields.AwareDateTime()
    user = fields.Nested(MeSchema)


class UserCreateSchema(StrictSchema):
    name = Name(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = fields.String(required=True, validate=validate.Length(min=3, max=32))
    role = fields.Enum(Role, by_value=True, required=True)
    team_id = Id(allow_none=True, load_default=None)
    password = fields.String(required=True, validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=200))
    on_call = fields.Boolean(load_default=False)
    duress_pin = Pin()


class UserUpdateSchema(StrictSchema):
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    on_call = fields.Boolean()
    phone = fields.String(validate=validate.Length(min=3, max=32))

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_schema")


class DuressPinSchema(StrictSchema):
    pin = Pin(required=True)


class RevokedSchema(StrictSchema):
    revoked = fields.Integer()


class UserQueryArgsSchema(PageArgsSchema):
    team_id = Id(strict=False)
    role = fields.Enum(Role, by_value=True)
    on_call = fields.Boolean()
    undeliverable = fields.Boolean(metadata={"description": "Only users whose phone Twilio refused"})


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema))


class UnlockedSchema(ma.Schema):
    unlocked = fields.Boolean(
        required=True, metadata={"description": "false if the person had no failed sign-ins counted"}
    )
