"""The decision forms: approve (an optional note) or reject (a note saying why)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ApproveForm(FlaskForm):
    note = TextAreaField("Approval note (optional)", validators=[Optional(), Length(max=2000)])


class RejectForm(FlaskForm):
    note = TextAreaField(
        "Why is it rejected?", validators=[DataRequired("Say why the marker is rejected"), Length(max=2000)]
    )


def for_marker(form: FlaskForm, marker_id: int, verb: str) -> FlaskForm:
    """Give the form's fields ids of their own, so every marker's form on the page has unique ids
    (the names stay plain: each form posts on its own)."""
    for field in form:
        if field.name != "csrf_token":
            field.id = f"{verb}-{marker_id}-{field.name}"
    return form
