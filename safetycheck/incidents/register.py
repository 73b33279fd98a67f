"""The near-miss and violence register: filtered, sorted lists and the CSV export.

Filters run on indexed columns (date, team, reporter, category, household); drafts stay out
unless asked for by status, because they are not reports yet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import Team, User
from safetycheck.extensions import db
from safetycheck.incidents import reach
from safetycheck.incidents.enums import IncidentStatus, RiddorState
from safetycheck.incidents.models import Incident, IncidentRiddor
from safetycheck.incidents.risk import risk_band

# Register filter values for the RIDDOR track beyond the stored states.
RIDDOR_NOT_SCREENED = "not_screened"
RIDDOR_OPEN = "open"  # pending or reportable, not yet reported to HSE: the cases with a deadline
RIDDOR_FILTERS = (*(s.value for s in RiddorState), RIDDOR_NOT_SCREENED, RIDDOR_OPEN)

SORTS = {
    "occurred_at": Incident.occurred_at,
    "reported_at": Incident.reported_at,
    "risk_score": Incident.risk_score,
    "category": Incident.category,
    "status": Incident.status,
    "id": Incident.id,
}
SORT_CHOICES = tuple(name for key in SORTS for name in (key, f"-{key}"))
DEFAULT_SORT = "-occurred_at"


def filtered(query: sa.Select[Any], user: User, filters: Mapping[str, Any]) -> sa.Select[Any]:
    """Apply the caller's reach and the register filters to a select over incidents."""
    query = query.where(reach.reach_clause(user))
    statuses = filters.get("status")
    if statuses:
        query = query.where(Incident.status.in_(statuses))
    else:
        query = query.where(Incident.status != IncidentStatus.DRAFT)
    if filters.get("category"):
        query = query.where(Incident.category.in_(filters["category"]))
    for name in ("near_miss", "harmed", "team_id", "household_id", "reporter_id", "visit_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(Incident, name) == filters[name])
    if filters.get("occurred_from") is not None:
        query = query.where(Incident.occurred_at >= filters["occurred_from"])
    if filters.get("occurred_to") is not None:
        query = query.where(Incident.occurred_at < filters["occurred_to"])
    if filters.get("riddor"):
        query = query.where(_riddor_clause(filters["riddor"]))
    return query


def _riddor_clause(values: list[str]) -> sa.ColumnElement[bool]:
    states = {v for v in values if v in {s.value for s in RiddorState}}
    if RIDDOR_OPEN in values:
        states |= {RiddorState.PENDING.value, RiddorState.REPORTABLE.value}
    clauses: list[sa.ColumnElement[bool]] = []
    if states:
        clauses.append(Incident.riddor_state.in_(sorted(states)))
    if RIDDOR_NOT_SCREENED in values:
        clauses.append(Incident.riddor_state.is_(None))
    return sa.or_(*clauses)


def ordered(query: sa.Select[Any], sort: str | None) -> sa.Select[Any]:
    sort = sort or DEFAULT_SORT
    descending = sort.startswith("-")
    column = SORTS[sort.lstrip("-")]
    key = column.desc() if descending else column.asc()
    tiebreak = Incident.id.desc() if descending else Incident.id.asc()
    if sort.lstrip("-") in ("risk_score", "reported_at"):
        key = key.nulls_last()
    return query.order_by(key, tiebreak)


def register_query(user: User, filters: Mapping[str, Any]) -> sa.Select[tuple[Incident]]:
    return ordered(filtered(sa.select(Incident), user, filters), filters.get("sort"))


# --- CSV ----------------------------------------------------------------------------------------

_reporter = sa.orm.aliased(User)
CSV_COLUMNS: list[tuple[str, Any]] = [
    ("id", Incident.id),
    ("status", Incident.status),
    ("category", Incident.category),
    ("near_miss", Incident.near_miss),
    ("near_miss_kind", Incident.near_miss_kind),
    ("harmed", Incident.harmed),
    ("occurred_at", Incident.occurred_at),
    ("reported_at", Incident.reported_at),
    ("team_id", Incident.team_id),
    ("team", Team.name),
    ("reporter_id", Incident.reporter_id),
    ("reporter", _reporter.name),
    ("visit_id", Incident.visit_id),
    ("alarm_id", Incident.alarm_id),
    ("household_id", Incident.household_id),
    ("address", Incident.address),
    ("at_marked_household", Incident.at_marked_household),
    ("description", Incident.description),
    ("injury", Incident.injury),
    ("left_premises", Incident.left_premises),
    ("police_called", Incident.police_called),
    ("harm", Incident.harm),
    ("consequence", Incident.consequence),
    ("likelihood", Incident.likelihood),
    ("risk_score", Incident.risk_score),
    ("risk_band", None),  # worked out from the score
    ("investigation_level", Incident.investigation_level),
    ("riddor_state", Incident.riddor_state),
    ("riddor_report_by", IncidentRiddor.report_by),
    ("hse_reference", IncidentRiddor.hse_reference),
    ("acknowledged_at", Incident.acknowledged_at),
    ("triaged_at", Incident.triaged_at),
    ("step_due_at", Incident.step_due_at),
    ("feedback_at", Incident.feedback_at),
    ("closed_at", Incident.closed_at),
    ("reopened_count", Incident.reopened_count),
]
CSV_HEADER = [name for name, _ in CSV_COLUMNS]
_SELECTED = [column for _, column in CSV_COLUMNS if column is not None]
_SCORE_AT = [name for name, column in CSV_COLUMNS if column is not None].index("risk_score")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Render one cell; text that a spreadsheet would run as a formula is quoted with a '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        value = value.value
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export_rows(user: User, filters: Mapping[str, Any], *, batch: int = 1000) -> Iterator[str]:
    """The filtered register as CSV text, a batch of rows at a time (for a streamed response)."""
    query = (
        sa.select(*_SELECTED)
        .select_from(Incident)
        .outerjoin(Team, Team.id == Incident.team_id)
        .outerjoin(_reporter, _reporter.id == Incident.reporter_id)
        .outerjoin(IncidentRiddor, IncidentRiddor.incident_id == Incident.id)
    )
    query = ordered(filtered(query, user, filters), filters.get("sort"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    result = db.session.execute(query.execution_options(yield_per=batch))
    for partition in result.partitions():
        for row in partition:
            score = row[_SCORE_AT]
            cells = [
                *row[: _SCORE_AT + 1],
                risk_band(score) if score is not None else None,
                *row[_SCORE_AT + 1 :],
            ]
            writer.writerow([safe_cell(cell) for cell in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty export
        yield buffer.getvalue()
