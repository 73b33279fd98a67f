"""The incident page's forms, one per step. They read the form; the procedure's services hold the rules.

Field names differ between forms (`reason` vs `marker_reason`) so that several forms on one
page keep unique ids for their labels and the error summary's links.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from safetycheck.households.enums import MarkerControl
from safetycheck.incidents.enums import Harm, InvestigationLevel
from safetycheck.web.incident.view import words

HARM_CHOICES = [SelectChoice(h.value, words(h.value)) for h in Harm]
LEVEL_CHOICES = [SelectChoice(level.value, words(level.value)) for level in InvestigationLevel]
LEVEL_HINTS = {
    InvestigationLevel.NONE.value: "Recorded and reviewed; goes straight to health and safety review.",
    InvestigationLevel.MANAGER_REVIEW.value: "The manager looks into it.",
    InvestigationLevel.LOCAL.value: "A local investigation.",
    InvestigationLevel.FULL.value: "Serious: an independent investigator.",
}
SCALE = [SelectChoice("", "Choose"), *(SelectChoice(str(n), str(n)) for n in range(1, 6))]
CONTROL_CHOICES = [
    SelectChoice(MarkerControl.JOINT_VISIT.value, "Joint visits only (a lone check-in is refused)"),
    SelectChoice(MarkerControl.OFFICE_ONLY.value, "Office only (no home visits)"),
    SelectChoice(MarkerControl.WRITTEN_AGREEMENT.value, "Written agreement (shown as a warning)"),
]


class NoteForm(FlaskForm):
    """Acknowledge and the plain moves: an optional note for the timeline."""

    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)])


class MoveForm(FlaskForm):
    """The plain moves: one form, one button per next step (`to`), and an optional note."""

    to = StringField("Next step", validators=[DataRequired("Choose where the incident goes next")])
    move_note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)])


class TriageForm(FlaskForm):
    harm = RadioField("Harm", choices=HARM_CHOICES, validators=[InputRequired("Select the harm done")])
    consequence = SelectField(
        "Consequence (1 to 5)",
        choices=SCALE,
        validators=[InputRequired("Select the consequence")],
    )
    likelihood = SelectField(
        "Likelihood of it happening again (1 to 5)",
        choices=SCALE,
        validators=[InputRequired("Select the likelihood")],
    )
    investigation_level = RadioField(
        "Investigation level", choices=LEVEL_CHOICES, validators=[InputRequired("Select a level")]
    )
    triage_note = TextAreaField("Triage note (optional)", validators=[Optional(), Length(max=2000)])


class QuestionForm(FlaskForm):
    question = TextAreaField(
        "Question for the reporter",
        validators=[DataRequired("Write the question for the reporter"), Length(max=2000)],
    )


class FeedbackForm(FlaskForm):
    message = TextAreaField(
        "Feedback to the reporter",
        validators=[DataRequired("Write the feedback for the reporter"), Length(max=5000)],
    )


class ReopenForm(FlaskForm):
    reason = TextAreaField(
        "Why is it reopened?", validators=[DataRequired("Say why the incident is reopened"), Length(max=2000)]
    )


class NewActionForm(FlaskForm):
    title = StringField(
        "What needs doing", validators=[DataRequired("Say what needs doing"), Length(max=300)]
    )
    owner_id = SelectField("Owner", coerce=int, validators=[InputRequired("Choose who owns the action")])
    due_on = DateField("Due by the end of", validators=[InputRequired("Enter a due date, like 2027-01-31")])

    def set_owners(self, owners: list[tuple[int, str]]) -> None:
        self.owner_id.choices = [SelectChoice(person_id, name) for person_id, name in owners]


class SupportStepForm(FlaskForm):
    """One support step recorded as done: the pressed button's `step`."""

    step = StringField("Support step", validators=[DataRequired("Choose the support step")])


class RiddorSubmitForm(FlaskForm):
    hse_reference = StringField(
        "HSE reference", validators=[DataRequired("Enter the reference HSE gave"), Length(max=40)]
    )


class MarkerProposalForm(FlaskForm):
    marker_reason = TextAreaField(
        "Facts the marker rests on",
        validators=[DataRequired("Give the facts the marker rests on"), Length(max=1000)],
    )
    controls = SelectMultipleField("Controls", choices=CONTROL_CHOICES, validate_choice=True)
