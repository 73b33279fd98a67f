"""The board's one form with fields: how an alarm ended (the same outcomes as the API's resolve)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from safetycheck.escalation.enums import RESOLVABLE_BY_PEOPLE, AlarmOutcome

OUTCOME_LABELS = {
    AlarmOutcome.SAFE: "Safe",
    AlarmOutcome.FALSE_ALARM: "False alarm",
    AlarmOutcome.INCIDENT: "Something happened",
    AlarmOutcome.EMERGENCY_SERVICES: "Emergency services attended",
}
OUTCOME_HINTS = {
    AlarmOutcome.SAFE.value: "You reached them and they are safe.",
    AlarmOutcome.FALSE_ALARM.value: "Pressed by mistake, or the visit ended and nobody checked out.",
    AlarmOutcome.INCIDENT.value: "Opens a draft incident report for them to complete.",
    AlarmOutcome.EMERGENCY_SERVICES.value: "Police or ambulance went to them.",
}
# Every stored outcome in words, including those the system sets.
OUTCOME_WORDS = {
    **{o.value: label for o, label in OUTCOME_LABELS.items()},
    AlarmOutcome.CHECKED_OUT.value: "They checked out",
    AlarmOutcome.EXTENDED.value: "They extended the visit",
    AlarmOutcome.SUPERSEDED.value: "Replaced by a duress alarm",
}
SELECT_OUTCOME = "Select how the alarm ended"


class ResolveForm(FlaskForm):
    outcome = RadioField(
        "How did it end?",
        choices=[SelectChoice(o.value, OUTCOME_LABELS[o]) for o in RESOLVABLE_BY_PEOPLE],
        validators=[InputRequired(SELECT_OUTCOME)],
        invalid_choice_message=SELECT_OUTCOME,
    )
    notes = TextAreaField(
        "Notes (optional)",
        validators=[Optional(), Length(max=4000, message="Notes must be 4,000 characters or fewer")],
    )
