"""The phone page's forms. They check only that a form can be read; the services hold the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FloatField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from safetycheck.incidents.enums import IncidentCategory, NearMissKind

HHMM = Regexp(r"^([01]?\d|2[0-3]):[0-5]\d$", message="Enter a time like 14:30")
NO_COMPANION = ""


class _LocationFields:
    """Filled by the page's script, only when the practitioner agreed to share their position."""

    lat = FloatField(validators=[Optional(), NumberRange(-90, 90)])
    lon = FloatField(validators=[Optional(), NumberRange(-180, 180)])
    accuracy_m = FloatField(validators=[Optional(), NumberRange(min=0)])


class CheckInForm(_LocationFields, FlaskForm):
    address = StringField(
        "Address", validators=[DataRequired("Enter the address you are visiting"), Length(min=3, max=500)]
    )
    minutes = IntegerField(
        "Minutes",
        validators=[Optional(), NumberRange(min=1, message="Enter a number of minutes, 1 or more")],
    )
    expected_end = StringField("Or expected end", validators=[Optional(), HHMM])
    case_ref = StringField("Case reference (optional)", validators=[Optional(), Length(max=64)])
    companion = SelectField("Companion (optional)", default=NO_COMPANION, validate_choice=True)
    share_location = BooleanField("Share my location with my managers during this visit")
    confirmed = HiddenField()  # set on the second step, once the warnings were shown

    def validate(self, extra_validators=None) -> bool:  # type: ignore[no-untyped-def]
        ok = bool(super().validate(extra_validators))
        if ok and (self.minutes.data is None) == (not self.expected_end.data):
            message = "Enter the minutes you expect to stay, or the time you expect to leave (not both)"
            self.minutes.errors = [*self.minutes.errors, message]
            return False
        return ok


class ExtendForm(FlaskForm):
    quick = HiddenField()  # the +15/+30/+60 buttons post their number here
    minutes = IntegerField(
        "Minutes", validators=[Optional(), NumberRange(min=1, message="Enter a number of minutes, 1 or more")]
    )

    def chosen_minutes(self) -> int | None:
        if self.quick.data and self.quick.data.isdigit():
            return int(self.quick.data)
        minutes: int | None = self.minutes.data
        return minutes


class CheckOutForm(FlaskForm):
    pin = PasswordField("PIN", validators=[Optional(), Length(max=8)])


class PanicForm(_LocationFields, FlaskForm):
    confirmed = HiddenField()  # without a script: a second, deliberate press on a confirm page


CATEGORY_CHOICES = [SelectChoice("", "Choose what happened")] + [
    SelectChoice(c.value, c.value.replace("_", " ").capitalize()) for c in IncidentCategory
]
YES_NO = [SelectChoice("yes", "Yes"), SelectChoice("no", "No")]


class ReportForm(FlaskForm):
    """Four required answers, and the time only if it was not just now: under 30 seconds."""

    category = SelectField(
        "What happened", choices=CATEGORY_CHOICES, validators=[DataRequired("Choose what happened")]
    )
    description = TextAreaField(
        "Tell us briefly", validators=[DataRequired("Say briefly what happened"), Length(max=5000)]
    )
    near_miss = RadioField(
        "Was it a near miss (nobody was hurt or threatened)?",
        choices=YES_NO,
        validators=[InputRequired("Say whether it was a near miss")],
    )
    harmed = RadioField(
        "Were you hurt or harmed?", choices=YES_NO, validators=[InputRequired("Say whether you were hurt")]
    )
    occurred_at = StringField("When, if not just now (HH:MM today)", validators=[Optional(), HHMM])


NEAR_MISS_LABELS = {
    NearMissKind.DID_NOT_ENTER: "I did not go in",
    NearMissKind.LEFT_EARLY: "I left early",
    NearMissKind.ASKED_FOR_JOINT_VISIT: "I asked for a joint visit",
}


class NearMissForm(FlaskForm):
    kind = RadioField(
        "Near miss",
        choices=[SelectChoice(k.value, NEAR_MISS_LABELS[k]) for k in NearMissKind],
        validators=[InputRequired()],
    )
