"""Request schemas for the post-incident procedure, its tracks and actions."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from safetycheck.api.common import BoundedInteger, Id, StrictBoolean, StrictSchema, StrippedSchema, text_field
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents.enums import ActionStatus, DebriefResponse, Harm, InvestigationLevel
from safetycheck.incidents.support import REFERRALS
from safetycheck.incidents.workflow import TRANSITION_TARGETS


class NoteSchema(StrippedSchema):
    note = text_field(2000, allow_none=True)


class RiddorScreenSchema(StrictSchema):
    physical = StrictBoolean(required=True)
    specified_injury = StrictBoolean(load_default=False)
    death = StrictBoolean(load_default=False)
    # null: not known yet; true without first_day_back: still off or on restricted duty.
    incapacitated = StrictBoolean(allow_none=True, load_default=None)
    first_day_back = fields.Date(allow_none=True, load_default=None)


class MarkerProposalSchema(StrippedSchema):
    _required_text = ("reason",)

    reason = text_field(1000, required=True)
    controls = fields.List(fields.Enum(MarkerControl, by_value=True), load_default=list)
    review_at = fields.AwareDateTime(allow_none=True, load_default=None)
    evidence_incident_ids = fields.List(Id(), load_default=list)


class TriageSchema(StrippedSchema):
    harm = fields.Enum(Harm, by_value=True, required=True)
    consequence = BoundedInteger(minimum=1, maximum=5, required=True)
    likelihood = BoundedInteger(minimum=1, maximum=5, required=True)
    investigation_level = fields.Enum(InvestigationLevel, by_value=True, required=True)
    note = text_field(2000, allow_none=True)
    riddor = fields.Nested(RiddorScreenSchema, allow_none=True)
    marker = fields.Nested(MarkerProposalSchema, allow_none=True)


class TransitionSchema(StrippedSchema):
    to = fields.String(required=True, validate=validate.OneOf(sorted(TRANSITION_TARGETS)))
    note = text_field(2000, allow_none=True)


class QuestionSchema(StrippedSchema):
    _required_text = ("question",)

    question = text_field(2000, required=True)


class AnswerSchema(StrippedSchema):
    _required_text = ("answer",)

    answer = text_field(5000, required=True)


class FeedbackSchema(StrippedSchema):
    _required_text = ("message",)

    message = text_field(5000, required=True)


class ReopenSchema(StrippedSchema):
    _required_text = ("reason",)

    reason = text_field(2000, required=True)


class RiddorSubmitSchema(StrippedSchema):
    _required_text = ("hse_reference",)

    hse_reference = text_field(40, required=True)
    submitted_at = fields.AwareDateTime(allow_none=True)


class SupportUpdateSchema(StrictSchema):
    """Managers record welfare checks, debrief offers, referrals and follow-ups; the worker answers."""

    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    welfare_check_done = StrictBoolean(validate=validate.Equal(True))
    debrief_offered = StrictBoolean(validate=validate.Equal(True))
    referrals = fields.List(
        fields.String(validate=validate.OneOf(REFERRALS)), validate=validate.Length(min=1)
    )
    follow_up_2w_done = StrictBoolean(validate=validate.Equal(True))
    follow_up_6w_done = StrictBoolean(validate=validate.Equal(True))
    debrief_response = fields.Enum(DebriefResponse, by_value=True)
    decline_follow_ups = StrictBoolean(validate=validate.Equal(True))

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("Give at least one support step.", "_schema")


class ActionCreateSchema(StrippedSchema):
    _required_text = ("title",)

    title = text_field(300, required=True)
    owner_id = Id(required=True)
    due_at = fields.AwareDateTime(required=True)


class ActionUpdateSchema(StrippedSchema):
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    status = fields.Enum(ActionStatus, by_value=True)
    due_at = fields.AwareDateTime()
    owner_id = Id()
    note = text_field(2000, allow_none=True)

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_schema")
