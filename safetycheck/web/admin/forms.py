"""Admin forms. They check only that the form can be read; the services hold the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length

from safetycheck.accounts.enums import Role
from safetycheck.accounts.service import MIN_PASSWORD_LENGTH
from safetycheck.web.filters import ROLE_LABELS
from safetycheck.web.forms import EmailAddress

ROLE_CHOICES = [SelectChoice(role.value, ROLE_LABELS[role]) for role in Role]
ROLE_HINTS = {
    Role.PRACTITIONER.value: "Checks in and out of visits; needs a team.",
    Role.MANAGER.value: "Texted when their team's visits go overdue; needs a team.",
    Role.HS_LEAD.value: "Reviews the incident register across teams.",
    Role.ADMIN.value: "Manages people, teams and numbers.",
}
NO_TEAM = ""


def _team_id(value: object) -> int | None:
    return int(value) if value not in (None, "", NO_TEAM) else None  # type: ignore[call-overload]


class TeamForm(FlaskForm):
    name = StringField("Team name", validators=[DataRequired("Enter a team name"), Length(max=120)])


class _PersonForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Enter the person's name"), Length(max=120)])
    phone = StringField(
        "Mobile phone number", validators=[DataRequired("Enter a mobile phone number"), Length(max=32)]
    )
    role = RadioField("Role", choices=ROLE_CHOICES, validators=[DataRequired("Select a role")])
    team_id = SelectField("Team", coerce=_team_id, validate_choice=False)

    def set_teams(self, teams: list[tuple[int, str]]) -> None:
        self.team_id.choices = [
            SelectChoice(NO_TEAM, "No team"),
            *(SelectChoice(str(team_id), name) for team_id, name in teams),
        ]


class UserCreateForm(_PersonForm):
    email = EmailField(
        "Email address",
        validators=[DataRequired("Enter an email address"), Length(max=254), EmailAddress()],
    )
    password = PasswordField(
        "First password",
        validators=[
            DataRequired("Enter a first password"),
            Length(
                min=MIN_PASSWORD_LENGTH, max=200, message=f"Use at least {MIN_PASSWORD_LENGTH} characters"
            ),
        ],
    )
    on_call = BooleanField("On call")


class UserEditForm(_PersonForm):
    pass


class PhoneForm(FlaskForm):
    phone = StringField(
        "Corrected number", validators=[DataRequired("Enter the corrected number"), Length(max=32)]
    )
