"""Forms of the admin rota pages. They check that the form can be read; the rota service holds the rules."""

from __future__ import annotations

from datetime import date, time

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from safetycheck.accounts.rota import DAY_NAMES
from safetycheck.accounts.rota_models import ShiftUnit

ALL_TEAMS = ""
BASE_LAYER = ""
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CLOCK_ERROR = "Enter a time of day as HH:MM, like 17:00"
DAY_LABELS = dict(
    zip(
        DAY_NAMES, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True
    )
)
UNIT_CHOICES = [SelectChoice(u.value, u.value.title()) for u in ShiftUnit]


def _optional_id(value: object) -> int | None:
    return int(value) if value not in (None, "") else None  # type: ignore[call-overload]


def clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def team_choices(teams: list[tuple[int, str]]) -> list[SelectChoice]:
    return [SelectChoice(ALL_TEAMS, "All teams"), *(SelectChoice(str(i), name) for i, name in teams)]


class RotationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter a name for the rotation"), Length(max=120)])
    team_id = SelectField("Team it covers", coerce=_optional_id, validate_choice=False)
    layer_id = SelectField("Layer", coerce=_optional_id, validate_choice=False)
    handover_time = StringField(
        "Hand-over time", validators=[DataRequired(CLOCK_ERROR), Regexp(CLOCK, message=CLOCK_ERROR)]
    )
    shift_length = IntegerField(
        "Shift length",
        validators=[InputRequired("Enter the shift length as a whole number"), NumberRange(min=1, max=672)],
    )
    shift_unit = RadioField(
        "Shift counted in", choices=UNIT_CHOICES, validators=[DataRequired("Select hours, days or weeks")]
    )
    starts_on = DateField(
        "First hand-over on", validators=[InputRequired("Enter the date of the first hand-over")]
    )

    def set_choices(self, teams: list[tuple[int, str]], layers: list[tuple[int, str]]) -> None:
        self.team_id.choices = team_choices(teams)
        self.layer_id.choices = [
            SelectChoice(BASE_LAYER, "Base layer (always)"),
            *(SelectChoice(str(i), name) for i, name in layers),
        ]

    def first_day(self) -> date:
        day: date | None = self.starts_on.data
        assert day is not None
        return day


class MemberForm(FlaskForm):
    user_id = SelectField(
        "Add a person",
        coerce=_optional_id,
        validate_choice=False,
        validators=[DataRequired("Select a person to add")],
    )


class OverrideForm(FlaskForm):
    user_id = SelectField(
        "Who covers",
        coerce=_optional_id,
        validate_choice=False,
        validators=[DataRequired("Select who covers")],
    )
    team_id = SelectField("Team", coerce=_optional_id, validate_choice=False)
    starts_on = DateField("From (date)", validators=[InputRequired("Enter the date the cover starts")])
    starts_time = StringField(
        "From (time)", validators=[DataRequired(CLOCK_ERROR), Regexp(CLOCK, message=CLOCK_ERROR)]
    )
    ends_on = DateField("Until (date)", validators=[InputRequired("Enter the date the cover ends")])
    ends_time = StringField(
        "Until (time)", validators=[DataRequired(CLOCK_ERROR), Regexp(CLOCK, message=CLOCK_ERROR)]
    )
    note = StringField("Note", validators=[Optional(), Length(max=200)])


class LayerForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter a name for the layer"), Length(max=120)])
    priority = IntegerField(
        "Priority",
        validators=[InputRequired("Enter a priority from 1 to 1000"), NumberRange(min=1, max=1000)],
    )
    days = SelectMultipleField(
        "Days it starts on", choices=[SelectChoice(d, DAY_LABELS[d]) for d in DAY_NAMES]
    )
    window_from = StringField(
        "From", validators=[DataRequired(CLOCK_ERROR), Regexp(CLOCK, message=CLOCK_ERROR)]
    )
    window_until = StringField(
        "Until", validators=[DataRequired(CLOCK_ERROR), Regexp(CLOCK, message=CLOCK_ERROR)]
    )

    def validate_days(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError("Select at least one day")
