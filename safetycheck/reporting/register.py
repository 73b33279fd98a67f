"""The near-miss and violence register: filtered, sorted lists and the CSV export.

Filters run on indexed columns (date, team, reporter, category, household); drafts stay out
unless asked for by status, because they are not reports yet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from datetime import date
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


def register_query(user: User, filters: Mapping[str, Any]) -> sa.Select[Incident]:
    return ordered(filtered(sa.select(Incident), user, filters), filters.get("sort"))


# --- CSV ----------------------------------------------------------------------------------------

_reporter = sa.orm.aliased(User)
# (header, column, kind): kind picks the cell formatter once per column, not per cell.
CSV_COLUMNS: list[tuple[str, Any, str]] = [
    ("id", Incident.id, "plain"),
    ("status", Incident.status, "enum"),
    ("category", Incident.category, "enum"),
    ("near_miss", Incident.near_miss, "bool"),
    ("near_miss_kind", Incident.near_miss_kind, "enum"),
    ("harmed", Incident.harmed, "bool"),
    ("occurred_at", Incident.occurred_at, "date"),
    ("reported_at", Incident.reported_at, "date"),
    ("team_id", Incident.team_id, "plain"),
    ("team", Team.name, "text"),
    ("reporter_id", Incident.reporter_id, "plain"),
    ("reporter", _reporter.name, "text"),
    ("visit_id", Incident.visit_id, "plain"),
    ("alarm_id", Incident.alarm_id, "plain"),
    ("household_id", Incident.household_id, "plain"),
    ("address", Incident.address, "text"),
    ("at_marked_household", Incident.at_marked_household, "bool"),
    ("description", Incident.description, "text"),
    ("injury", Incident.injury, "text"),
    ("left_premises", Incident.left_premises, "bool"),
    ("police_called", Incident.police_called, "bool"),
    ("harm", Incident.harm, "enum"),
    ("consequence", Incident.consequence, "plain"),
    ("likelihood", Incident.likelihood, "plain"),
    ("risk_score", Incident.risk_score, "plain"),
    ("risk_band", None, "band"),  # worked out from the score
    ("investigation_level", Incident.investigation_level, "enum"),
    ("riddor_state", Incident.riddor_state, "enum"),
    ("riddor_report_by", IncidentRiddor.report_by, "date"),
    ("hse_reference", IncidentRiddor.hse_reference, "text"),
    ("acknowledged_at", Incident.acknowledged_at, "date"),
    ("triaged_at", Incident.triaged_at, "date"),
    ("step_due_at", Incident.step_due_at, "date"),
    ("feedback_at", Incident.feedback_at, "date"),
    ("closed_at", Incident.closed_at, "date"),
    ("reopened_count", Incident.reopened_count, "plain"),
]
CSV_HEADER = [name for name, _, _ in CSV_COLUMNS]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str | None) -> str:
    """Free text for a cell; text a spreadsheet would run as a formula is quoted with a '."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _bool(value: bool | None) -> str:
    return "" if value is None else "true" if value else "false"


def _iso(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _plain(value: Any) -> Any:
    return "" if value is None else value


def _band(score: int | None) -> str:
    return "" if score is None else risk_band(score).value


# Enum values are written as stored, so they are read as plain strings (no enum objects per cell);
# stored values come from our enums and never start with a formula character.
_FORMATTERS = {"plain": _plain, "enum": _plain, "text": safe_text, "bool": _bool, "date": _iso}


def export_rows(user: User, filters: Mapping[str, Any], *, batch: int = 2000) -> Iterator[str]:
    """The filtered register as CSV text, a batch of rows at a time (for a streamed response)."""
    selected: list[Any] = []
    formatters: list[Callable[[Any], Any]] = []
    for _, column, kind in CSV_COLUMNS:
        if kind == "band":
            selected.append(Incident.risk_score.label("band_score"))
            formatters.append(_band)
            continue
        selected.append(sa.type_coerce(column, sa.String).label(column.key) if kind == "enum" else column)
        formatters.append(_FORMATTERS[kind])
    query = (
        sa.select(*selected)
        .select_from(Incident)
        .outerjoin(Team, Team.id == Incident.team_id)
        .outerjoin(_reporter, _reporter.id == Incident.reporter_id)
        .outerjoin(IncidentRiddor, IncidentRiddor.incident_id == Incident.id)
    )
    query = ordered(filtered(query, user, filters), filters.get("sort"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    # The csv module writes None as an empty cell and numbers as they are: format only the rest.
    special = [(i, format_) for i, format_ in enumerate(formatters) if format_ is not _plain]
    # Core, not the ORM: a plain tuple per row, fetched in batches from a server-side cursor.
    result = db.session.connection().execute(query.execution_options(yield_per=batch))
    for partition in result.partitions():
        rows = []
        for raw in partition:
            row: list[Any] = list(raw)
            for i, format_ in special:
                row[i] = format_(row[i])
            rows.append(row)
        writer.writerows(rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty export
        yield buffer.getvalue()
