"""Request and response schemas for household markers and households."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from safetycheck.api.common import Id, PageArgsSchema, PageSchema, StrippedSchema, text_field
from safetycheck.households.enums import MarkerStatus


class MarkerQueryArgsSchema(PageArgsSchema):
    status = fields.List(fields.Enum(MarkerStatus, by_value=True))
    household_id = Id(strict=False)
    team_id = Id(strict=False)
    due_for_review = fields.Boolean()


class MarkerDecisionSchema(StrippedSchema):
    note = text_field(2000, allow_none=True)


class MarkerRejectSchema(StrippedSchema):
    _required_text = ("note",)

    note = text_field(2000, required=True)


class MarkerWithdrawSchema(StrippedSchema):
    _required_text = ("reason",)

    reason = text_field(2000, required=True)


class MarkerRenewSchema(StrippedSchema):
    incident_id = Id(required=True)
    review_at = fields.AwareDateTime(allow_none=True)
    note = text_field(2000, allow_none=True)


class MarkerSchema(ma.Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    address = fields.Function(lambda m: m.household.display_address)
    postcode = fields.Function(lambda m: m.household.postcode)
    status = fields.Enum(MarkerStatus, by_value=True)
    reason = fields.String()
    controls = fields.List(fields.String())
    team_id = fields.Integer(allow_none=True)
    incident_id = fields.Integer()
    evidence_incident_ids = fields.List(fields.Integer())
    proposed_by = fields.Integer()
    proposed_at = fields.AwareDateTime()
    decided_by = fields.Integer(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    review_at = fields.AwareDateTime()
    renewed_at = fields.AwareDateTime(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)


class MarkerPageSchema(PageSchema):
    items = fields.List(fields.Nested(MarkerSchema))


class HouseholdSchema(ma.Schema):
    id = fields.Integer()
    address = fields.String(attribute="display_address")
    postcode = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    markers = fields.List(fields.Nested(MarkerSchema))
    visits = fields.Integer()
    incidents = fields.Integer()
