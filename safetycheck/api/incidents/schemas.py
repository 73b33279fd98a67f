"""Request and response schemas for reporting incidents and reading the register."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from safetycheck import localtime as calendar
from safetycheck.api.common import (
    BoundedInteger,
    Id,
    PageArgsSchema,
    PageSchema,
    StrictBoolean,
    StrippedSchema,
    TimelineEntrySchema,
    text_field,
)
from safetycheck.incidents.enums import (
    DebriefResponse,
    Harm,
    IncidentCategory,
    IncidentStatus,
    InvestigationLevel,
    NearMissKind,
    RiddorState,
)
from safetycheck.incidents.risk import risk_band
from safetycheck.reporting.register import RIDDOR_FILTERS, SORT_CHOICES


class DayOrTime(fields.Field[datetime]):
    """A register date filter: a time with a UTC offset, or a plain date meaning a whole local day.

    `2026-12-01` is the start of that day in the service's time zone for `occurred_from`, and its
    end (the start of the next day, as `occurred_to` is exclusive) for `occurred_to`, so that
    `occurred_from=2026-12-01&occurred_to=2026-12-01` is all of 1 December.
    """

    _DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
    default_error_messages = {  # noqa: RUF012 (marshmallow reads it from the class)
        "invalid": "Give a date (2026-12-01) or a time with a UTC offset (2026-12-01T09:00:00+00:00)."
    }

    def __init__(self, *, end_of_day: bool, **kwargs: Any) -> None:
        day = "up to the end of that day" if end_of_day else "from the start of that day"
        metadata = {
            "type": "string",
            "description": f"A time with a UTC offset, or a date: {day} in the service's time zone.",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
            "example": "2026-12-01",
        }
        super().__init__(metadata=metadata, **kwargs)
        self.end_of_day = end_of_day
        self._time = fields.AwareDateTime()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        if self._DATE.fullmatch(text):
            try:
                day = date.fromisoformat(text)
                return calendar.start_of_local_day(day + timedelta(days=1) if self.end_of_day else day)
            except (ValueError, OverflowError):
                raise self.make_error("invalid") from None
        try:
            moment = self._time.deserialize(text)
        except ma.ValidationError:
            raise self.make_error("invalid") from None
        assert isinstance(moment, datetime)
        return moment


class IncidentCreateSchema(StrippedSchema):
    _required_text = ("description",)

    occurred_at = fields.AwareDateTime(required=True)
    category = fields.Enum(IncidentCategory, by_value=True, required=True)
    description = text_field(5000, required=True)
    near_miss = StrictBoolean(required=True)
    # Optional so that the contract's four-field report still works; a near miss is never harmed.
    harmed = StrictBoolean(allow_none=True)
    visit_id = Id(allow_none=True)
    alarm_id = Id(allow_none=True)
    address = text_field(500, allow_none=True)
    injury = text_field(2000, allow_none=True)
    left_premises = StrictBoolean(allow_none=True)
    police_called = StrictBoolean(allow_none=True)
    police_reference = text_field(64, allow_none=True)


class NearMissCreateSchema(StrippedSchema):
    kind = fields.Enum(NearMissKind, by_value=True, required=True)
    visit_id = Id(allow_none=True)
    address = text_field(500, allow_none=True)
    note = text_field(1000, allow_none=True)
    category = fields.Enum(IncidentCategory, by_value=True, load_default=IncidentCategory.OTHER)


class IncidentUpdateSchema(StrippedSchema):
    """Details added or corrected later; only these fields can change."""

    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    _required_text = ("description",)

    occurred_at = fields.AwareDateTime()
    category = fields.Enum(IncidentCategory, by_value=True)
    description = text_field(5000)
    near_miss = StrictBoolean()
    harmed = StrictBoolean()
    address = text_field(500, allow_none=True)
    injury = text_field(2000, allow_none=True)
    left_premises = StrictBoolean(allow_none=True)
    police_called = StrictBoolean(allow_none=True)
    police_reference = text_field(64, allow_none=True)

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_schema")


class IncidentConfirmSchema(StrippedSchema):
    _required_text = ("description",)

    category = fields.Enum(IncidentCategory, by_value=True, required=True)
    description = text_field(5000, required=True)
    near_miss = StrictBoolean(required=True)
    harmed = StrictBoolean(allow_none=True)
    occurred_at = fields.AwareDateTime()
    address = text_field(500, allow_none=True)
    injury = text_field(2000, allow_none=True)
    left_premises = StrictBoolean(allow_none=True)
    police_called = StrictBoolean(allow_none=True)
    police_reference = text_field(64, allow_none=True)


class IncidentQueryArgsSchema(PageArgsSchema):
    """Register filters; repeat a list parameter for several values (`?category=threat&category=animal`)."""

    category = fields.List(fields.Enum(IncidentCategory, by_value=True))
    status = fields.List(fields.Enum(IncidentStatus, by_value=True))
    near_miss = fields.Boolean()
    harmed = fields.Boolean()
    team_id = Id(strict=False)
    household_id = Id(strict=False)
    reporter_id = Id(strict=False)
    visit_id = Id(strict=False)
    occurred_from = DayOrTime(end_of_day=False)
    occurred_to = DayOrTime(end_of_day=True)
    riddor = fields.List(fields.String(validate=validate.OneOf(RIDDOR_FILTERS)))
    sort = fields.String(validate=validate.OneOf(SORT_CHOICES), load_default="-occurred_at")

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("occurred_from"), data.get("occurred_to")
        if start and end and end <= start:
            raise ma.ValidationError({"occurred_to": ["Must be after occurred_from."]})


class ExportArgsSchema(IncidentQueryArgsSchema):
    class Meta:
        exclude = ("page", "per_page")


class SummaryArgsSchema(ma.Schema):
    occurred_from = DayOrTime(end_of_day=False)
    occurred_to = DayOrTime(end_of_day=True)
    team_id = Id(strict=False)
    silent_min_visits = BoundedInteger(minimum=1, strict=False, load_default=20)

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("occurred_from"), data.get("occurred_to")
        if start and end and end <= start:
            raise ma.ValidationError({"occurred_to": ["Must be after occurred_from."]})


# --- responses ----------------------------------------------------------------------------------


class IncidentSchema(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(IncidentStatus, by_value=True)
    category = fields.Enum(IncidentCategory, by_value=True, allow_none=True)
    description = fields.String(allow_none=True)
    near_miss = fields.Boolean(allow_none=True)
    near_miss_kind = fields.Enum(NearMissKind, by_value=True, allow_none=True)
    harmed = fields.Boolean(allow_none=True)
    occurred_at = fields.AwareDateTime()
    reported_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    reporter_id = fields.Integer()
    reporter_name = fields.Function(lambda i: i.reporter.name)
    team_id = fields.Integer(allow_none=True)
    visit_id = fields.Integer(allow_none=True)
    alarm_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    at_marked_household = fields.Boolean()
    injury = fields.String(allow_none=True)
    left_premises = fields.Boolean(allow_none=True)
    police_called = fields.Boolean(allow_none=True)
    police_reference = fields.String(allow_none=True)
    step_due_at = fields.AwareDateTime(allow_none=True)
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_by = fields.Integer(allow_none=True)
    triaged_at = fields.AwareDateTime(allow_none=True)
    triaged_by = fields.Integer(allow_none=True)
    harm = fields.Enum(Harm, by_value=True, allow_none=True)
    consequence = fields.Integer(allow_none=True)
    likelihood = fields.Integer(allow_none=True)
    risk_score = fields.Integer(allow_none=True)
    risk_band = fields.Function(lambda i: risk_band(i.risk_score) if i.risk_score else None)
    investigation_level = fields.Enum(InvestigationLevel, by_value=True, allow_none=True)
    riddor_state = fields.Enum(RiddorState, by_value=True, allow_none=True)
    feedback = fields.String(allow_none=True)
    feedback_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    reopened_count = fields.Integer()


class IncidentPageSchema(PageSchema):
    items = fields.List(fields.Nested(IncidentSchema))
    total_is_estimate = fields.Boolean(
        metadata={
            "description": "true when `total` is the database's estimate: past REGISTER_EXACT_TOTAL_UP_TO "
            "(10,000) rows the register is not counted to the last row"
        }
    )


class RiddorSchema(ma.Schema):
    physical = fields.Boolean()
    specified_injury = fields.Boolean()
    death = fields.Boolean()
    incapacitated = fields.Boolean(allow_none=True)
    first_day_back = fields.Date(allow_none=True)
    classification = fields.String()
    state = fields.String()
    report_by = fields.Date(allow_none=True)
    days_left = fields.Integer(allow_none=True)
    reason = fields.String()
    hse_reference = fields.String(allow_none=True)
    submitted_at = fields.AwareDateTime(allow_none=True)


class SupportSchema(ma.Schema):
    welfare_check_due_at = fields.AwareDateTime()
    welfare_check_done_at = fields.AwareDateTime(allow_none=True)
    debrief_offered_at = fields.AwareDateTime(allow_none=True)
    debrief_response = fields.Enum(DebriefResponse, by_value=True, allow_none=True)
    debrief_responded_at = fields.AwareDateTime(allow_none=True)
    referrals = fields.List(fields.String())
    follow_up_2w_due_at = fields.AwareDateTime(allow_none=True)
    follow_up_2w_done_at = fields.AwareDateTime(allow_none=True)
    follow_up_6w_due_at = fields.AwareDateTime(allow_none=True)
    follow_up_6w_done_at = fields.AwareDateTime(allow_none=True)
    declined_at = fields.AwareDateTime(allow_none=True)
    pending = fields.List(fields.Dict())


class ActionSchema(ma.Schema):
    id = fields.Integer()
    title = fields.String()
    owner_id = fields.Integer()
    due_at = fields.AwareDateTime()
    status = fields.String()
    created_at = fields.AwareDateTime()
    created_by = fields.Integer()
    completed_at = fields.AwareDateTime(allow_none=True)
    completed_by = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)


class IncidentDetailSchema(IncidentSchema):
    """One incident with its timeline, tracks, actions and markers."""

    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    riddor = fields.Nested(RiddorSchema, allow_none=True)
    support = fields.Nested(SupportSchema, allow_none=True)
    actions = fields.List(fields.Nested(ActionSchema))
    marker_ids = fields.List(fields.Integer())
    alarm_summary = fields.List(fields.Dict(), allow_none=True)
    allowed_transitions = fields.List(fields.String())
