"""The register's filter forms: read from the query string (GET), so a view can be bookmarked.

The names are the API's (`category`, `near_miss`, `team_id`, `status`, `household_id`,
`occurred_from`, `occurred_to`, `sort`, `page`, `per_page`) and dates are read as the API reads
them: a plain date is a whole local day, a time needs its UTC offset. A value that cannot be read
is an error on its field, shown in the error summary; it never widens the filter silently.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from wtforms import Field, Form, HiddenField, SelectChoice, SelectField, StringField, ValidationError

from safetycheck import localtime as calendar
from safetycheck.accounts.models import Team
from safetycheck.incidents.enums import IncidentCategory, IncidentStatus
from safetycheck.reporting.register import DEFAULT_SORT, SORT_CHOICES

ID_MAX = 2**31 - 1  # the database's integer, as the API bounds ids
PAGE_MAX = 100_000
PER_PAGE = 50
PER_PAGE_MAX = 200

STATUS_LABELS = {
    IncidentStatus.DRAFT: "Draft",
    IncidentStatus.REPORTED: "Reported",
    IncidentStatus.ACKNOWLEDGED: "Acknowledged",
    IncidentStatus.TRIAGED: "Triaged",
    IncidentStatus.UNDER_INVESTIGATION: "Under investigation",
    IncidentStatus.ACTIONS_OPEN: "Actions open",
    IncidentStatus.HS_REVIEW: "Health and safety review",
    IncidentStatus.INFORMATION_REQUIRED: "Information required",
    IncidentStatus.CLOSED: "Closed",
}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def category_label(value: str | None) -> str:
    return (value or "other").replace("_", " ").capitalize()


def status_label(value: str | None) -> str:
    return STATUS_LABELS.get(IncidentStatus(value), str(value)) if value else ""


class DayOrTimeField(StringField):
    """A date (2026-03-01, a whole local day) or a time with a UTC offset; `.moment` is the bound."""

    def __init__(self, label: str, *, end_of_day: bool, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.end_of_day = end_of_day
        self.moment: datetime | None = None

    def pre_validate(self, form: Form) -> None:
        text = (self.data or "").strip()
        self.moment = None
        if not text:
            return
        try:
            if _DATE.fullmatch(text):
                day = date.fromisoformat(text)
                self.moment = calendar.start_of_local_day(day + timedelta(days=1) if self.end_of_day else day)
                return
            moment = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValidationError(
                f"{self.label.text} must be a date, like 2026-03-01, or a time with a UTC offset, "
                "like 2026-03-01T09:00:00+00:00"
            )
        self.moment = moment


def _whole_number(minimum: int, maximum: int, message: str) -> Any:
    def check(form: Form, field: Field) -> None:
        text = (field.data or "").strip()
        if not text:
            return
        if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
            raise ValidationError(message)

    return check


def _one_of(values: set[str], message: str) -> Any:
    def check(form: Form, field: Field) -> None:
        if field.data and field.data not in values:
            raise ValidationError(message)

    return check


def _flag(value: Any) -> str:
    """`near_miss` as the API reads it (true/false, yes/no, 1/0), kept as "true", "false" or ""."""
    text = str(value or "").strip().lower()
    return "true" if text in _TRUE else "false" if text in _FALSE else text


def _number(field: Field, default: int | None = None) -> int | None:
    text = (field.data or "").strip()
    return int(text) if text else default


class PeriodForm(Form):
    """A date range and a team: the summary's filters, and the start of the register's."""

    team_id = SelectField("Team", validate_choice=False, validators=[])
    occurred_from = DayOrTimeField("From", end_of_day=False)
    occurred_to = DayOrTimeField("To", end_of_day=True)

    def set_teams(self, teams: list[Team]) -> None:
        self.team_id.choices = [
            SelectChoice("", "All teams"),
            *(SelectChoice(str(team.id), team.name) for team in teams),
        ]
        self.team_id.validators = [_whole_number(1, ID_MAX, "Team must be one of the teams in the list")]

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        start, end = self.occurred_from.moment, self.occurred_to.moment
        if start and end and end <= start:
            self.occurred_to.errors = [*self.occurred_to.errors, "To must be after From"]
            valid = False
        return bool(valid)

    def period_filters(self) -> dict[str, Any]:
        return {
            "team_id": _number(self.team_id),
            "occurred_from": self.occurred_from.moment,
            "occurred_to": self.occurred_to.moment,
        }


class RegisterFilterForm(PeriodForm):
    category = SelectField(
        "Category",
        choices=[
            SelectChoice("", "Any category"),
            *(SelectChoice(c.value, category_label(c)) for c in IncidentCategory),
        ],
        validate_choice=False,
        validators=[
            _one_of({c.value for c in IncidentCategory}, "Category must be one of the categories in the list")
        ],
    )
    near_miss = SelectField(
        "Near miss",
        choices=[
            SelectChoice("", "Both"),
            SelectChoice("true", "Near misses only"),
            SelectChoice("false", "Incidents only"),
        ],
        coerce=_flag,
        validate_choice=False,
        validators=[_one_of({"true", "false"}, "Near miss must be yes or no")],
    )
    status = SelectField(
        "Status",
        choices=[
            SelectChoice("", "Any status"),
            *(SelectChoice(s.value, STATUS_LABELS[s]) for s in IncidentStatus),
        ],
        validate_choice=False,
        validators=[
            _one_of({s.value for s in IncidentStatus}, "Status must be one of the statuses in the list")
        ],
    )
    household_id = StringField(
        "Household number",
        validators=[_whole_number(1, ID_MAX, "Household number must be a whole number, like 12")],
    )
    sort = HiddenField(
        validators=[_one_of(set(SORT_CHOICES), "Sort must be one of the column headings: choose a heading")]
    )
    page = HiddenField(
        validators=[_whole_number(1, PAGE_MAX, f"Page must be a whole number from 1 to {PAGE_MAX:,}")]
    )
    per_page = HiddenField(
        validators=[
            _whole_number(1, PER_PAGE_MAX, f"Rows per page must be a whole number from 1 to {PER_PAGE_MAX}")
        ]
    )

    def filters(self) -> dict[str, Any]:
        """The register's filters, in the domain's names (as `register.filtered` reads them)."""
        return {
            **self.period_filters(),
            "category": [self.category.data] if self.category.data else None,
            "status": [self.status.data] if self.status.data else None,
            "near_miss": {"true": True, "false": False}.get(self.near_miss.data or ""),
            "household_id": _number(self.household_id),
            "sort": self.sort.data or DEFAULT_SORT,
        }

    def page_number(self) -> int:
        return _number(self.page, 1) or 1

    def rows_per_page(self) -> int:
        return _number(self.per_page, PER_PAGE) or PER_PAGE
