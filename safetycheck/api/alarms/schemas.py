"""Request and response schemas for alarms."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from safetycheck.api.common import (
    Id,
    LocationSchema,
    PageArgsSchema,
    PageSchema,
    StrictSchema,
    TimelineEntrySchema,
)
from safetycheck.escalation.enums import RESOLVABLE_BY_PEOPLE, AlarmKind, AlarmStatus


class AlarmCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["panic"]))
    visit_id = Id(allow_none=True)
    location = fields.Nested(LocationSchema, allow_none=True)
    message = fields.String(validate=validate.Length(max=500), allow_none=True)


class AlarmResolveSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in RESOLVABLE_BY_PEOPLE]))
    notes = fields.String(validate=validate.Length(max=4000), allow_none=True)


class AlarmQueryArgsSchema(PageArgsSchema):
    status = fields.Enum(AlarmStatus, by_value=True)
    kind = fields.Enum(AlarmKind, by_value=True)
    visit_id = Id(strict=False)


class AlarmSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.Enum(AlarmKind, by_value=True)
    status = fields.Enum(AlarmStatus, by_value=True)
    visit_id = fields.Integer(allow_none=True)
    practitioner_id = fields.Integer()
    practitioner_name = fields.Function(lambda a: a.practitioner.name)
    team_id = fields.Integer(allow_none=True)
    incident_id = fields.Integer(allow_none=True)
    raised_at = fields.AwareDateTime()
    code = fields.String()
    message = fields.String(allow_none=True)
    acknowledged_by = fields.Integer(allow_none=True)
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_via = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    resolution_notes = fields.String(allow_none=True)
    executed_steps = fields.Integer()
    next_step_at = fields.AwareDateTime(allow_none=True)


class AlarmPageSchema(PageSchema):
    items = fields.List(fields.Nested(AlarmSchema))


class AlarmTextSchema(ma.Schema):
    """One text sent for the alarm: who, what for, and whether it arrived."""

    recipient_id = fields.Integer(allow_none=True)
    to_phone = fields.String()
    purpose = fields.String()
    step_execution = fields.Integer(allow_none=True)
    status = fields.String()
    provider_status = fields.String(allow_none=True)
    error_code = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)


class AlarmDetailSchema(AlarmSchema):
    """An alarm with its timeline and every text sent for it."""

    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    texts = fields.List(fields.Nested(AlarmTextSchema))
