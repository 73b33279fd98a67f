"""Request and response schemas for visits."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from safetycheck.api.common import (
    BoundedInteger,
    Id,
    LocationSchema,
    PageArgsSchema,
    PageSchema,
    Pin,
    StrictSchema,
    TimelineEntrySchema,
)
from safetycheck.visits.enums import CheckoutOutcome, VisitStatus


class VisitCreateSchema(StrictSchema):
    address = fields.String(required=True, validate=validate.Length(min=3, max=500))
    duration_minutes = BoundedInteger(minimum=1)
    expected_end = fields.AwareDateTime()
    case_ref = fields.String(validate=validate.Length(max=64), allow_none=True)
    companion_id = Id(allow_none=True)
    notes = fields.String(validate=validate.Length(max=2000), allow_none=True)
    location = fields.Nested(LocationSchema, allow_none=True)

    @ma.validates_schema
    def _exactly_one_end(self, data: dict[str, Any], **_: Any) -> None:
        if ("duration_minutes" in data) == ("expected_end" in data):
            message = "Give exactly one of duration_minutes and expected_end."
            raise ma.ValidationError({"duration_minutes": [message], "expected_end": [message]})

    @ma.post_load
    def _strip(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["address"] = data["address"].strip()
        if len(data["address"]) < 3:
            raise ma.ValidationError({"address": ["Must not be blank."]})
        return data


class VisitExtendSchema(StrictSchema):
    minutes = BoundedInteger(minimum=1, required=True)


class VisitCheckoutSchema(StrictSchema):
    pin = Pin(allow_none=True)
    outcome = fields.Enum(CheckoutOutcome, by_value=True)


class VisitQueryArgsSchema(PageArgsSchema):
    status = fields.Enum(VisitStatus, by_value=True)
    practitioner_id = Id(strict=False)


class LastLocationSchema(ma.Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)
    at = fields.AwareDateTime()


# What a visit's warnings may hold (documentation only: the items are dumped as stored).
WARNING_PROPERTIES = {
    "code": {"type": "string", "description": "`no_cover`; absent on household markers"},
    "message": {"type": "string"},
    "marker_id": {"type": "integer"},
    "controls": {"type": "array", "items": {"type": "string"}},
    "reason": {"type": "string"},
    "review_at": {"type": "string", "format": "date-time"},
}


class VisitSchema(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(VisitStatus, by_value=True)
    practitioner_id = fields.Integer()
    practitioner_name = fields.Function(lambda v: v.practitioner.name)
    team_id = fields.Integer()
    address = fields.String()
    case_ref = fields.String(allow_none=True)
    companion_id = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True)
    checked_in_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime()
    checked_out_at = fields.AwareDateTime(allow_none=True)
    outcome = fields.Enum(CheckoutOutcome, by_value=True, allow_none=True)
    warnings = fields.List(
        fields.Dict(metadata={"properties": WARNING_PROPERTIES}),
        metadata={
            "description": "Shown at check-in and kept with the visit: household markers (with "
            '`marker_id`), and `{code: "no_cover", message}` when an overdue alarm would reach '
            "no manager or on-call contact who can act (the check-in still stands)."
        },
    )
    last_location = fields.Method("_location")

    def _location(self, visit: Any) -> dict[str, Any] | None:
        if visit.last_lat is None:
            return None
        dumped: dict[str, Any] = LastLocationSchema().dump(
            {
                "lat": visit.last_lat,
                "lon": visit.last_lon,
                "accuracy_m": visit.last_accuracy_m,
                "at": visit.last_located_at,
            }
        )
        return dumped


class VisitDetailSchema(VisitSchema):
    """A single visit with its timeline and its alarms (as the caller may see them)."""

    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    alarms = fields.List(fields.Dict())


class VisitPageSchema(PageSchema):
    items = fields.List(fields.Nested(VisitSchema))
