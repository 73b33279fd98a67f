"""The register's rollups: the summary's counts per month, kept by the `reporting.rollups` sweep part.

A month is rolled up once it has ended (`RollupState.sealed_through`); an incident written into a
rolled-up month marks it dirty (`RollupDirty`) in the same transaction, and the summary counts a
dirty month live until the part has rebuilt it. See docs/incidents.md, "Register rollups".
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from safetycheck.extensions import Model
from safetycheck.incidents.models import Incident, IncidentRiddor
from safetycheck.visits.models import Visit


class RollupMonthCount(Model):
    """Reported incidents of one team, month and category (the totals, months, categories, teams)."""

    __tablename__ = "register_month_counts"
    __table_args__ = (sa.Index("ix_register_month_counts_month_team", "month", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))  # "2026-03", UTC
    team_id: Mapped[int | None]  # no foreign key: a rollup never holds a team back from deletion
    category: Mapped[str | None] = mapped_column(sa.String(30))
    incidents: Mapped[int]
    near_misses: Mapped[int]
    harmed: Mapped[int]
    at_marked: Mapped[int]


class RollupMonthLag(Model):
    """How many reports of one team and month came within each lag bucket (see `rollups.LagBuckets`)."""

    __tablename__ = "register_month_lags"
    __table_args__ = (sa.Index("ix_register_month_lags_month_team", "month", "team_id", "bucket", "reports"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))
    team_id: Mapped[int | None]
    bucket: Mapped[int]
    reports: Mapped[int]


class RollupMonthVisit(Model):
    """Check-ins of one team in one month: the exposure the rates divide by."""

    __tablename__ = "register_month_visits"
    __table_args__ = (sa.Index("ix_register_month_visits_month_team", "month", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))
    team_id: Mapped[int]
    visits: Mapped[int]


class RollupMonthHousehold(Model):
    """Reported incidents at one household in one month, all teams (the lead's repeat households)."""

    __tablename__ = "register_month_households"
    __table_args__ = (
        sa.Index(
            "ix_register_month_households_month", "month", "household_id", "incidents", "last_occurred_at"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))
    household_id: Mapped[int]
    incidents: Mapped[int]
    last_occurred_at: Mapped[datetime]


class RollupMonthReporter(Model):
    """Reported incidents of one reporter, team and month (repeat reporters)."""

    __tablename__ = "register_month_reporters"
    __table_args__ = (sa.Index("ix_register_month_reporters_month_team", "month", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))
    team_id: Mapped[int | None]
    reporter_id: Mapped[int]
    incidents: Mapped[int]


class RollupDirty(Model):
    """A rolled-up month an incident was written into since: counted live until rebuilt."""

    __tablename__ = "register_rollup_dirty"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7), index=True)


class RollupState(Model):
    """One row: the last month rolled up and when the part last finished a refresh."""

    __tablename__ = "register_rollup_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    sealed_through: Mapped[str | None] = mapped_column(sa.String(7))
    refreshed_at: Mapped[datetime | None]


# Indexes on the tables the summary reads, declared here because the summary is why they exist.
# The visits' live month is counted from the index alone.
sa.Index("ix_visits_checked_in_at_team_id", Visit.__table__.c.checked_in_at, Visit.__table__.c.team_id)
# The exact lag percentiles read one bucket's rows through it, from the index alone (PostgreSQL;
# SQLite scans, small). reported_at is there so that no row has to be fetched.
sa.Index(
    "ix_incidents_report_lag",
    sa.extract("epoch", Incident.__table__.c.reported_at - Incident.__table__.c.occurred_at),
    Incident.__table__.c.occurred_at,
    Incident.__table__.c.team_id,
    Incident.__table__.c.reported_at,
    postgresql_where=sa.text("status <> 'draft' AND reported_at IS NOT NULL"),
).ddl_if(dialect="postgresql")
# Overdue procedure steps, oldest first (and counted), for a team or all: open incidents only.
_OPEN = "status NOT IN ('draft', 'closed')"
sa.Index(
    "ix_incidents_open_step_due_at",
    Incident.__table__.c.step_due_at,
    Incident.__table__.c.id,
    Incident.__table__.c.team_id,
    Incident.__table__.c.status,  # the query names the open statuses: then no row is fetched
    postgresql_where=sa.text(_OPEN),
    sqlite_where=sa.text(_OPEN),
)
# A team's repeat households, from the index alone (the incidents of a year are not in memory).
_REPORTED = "status <> 'draft'"
sa.Index(
    "ix_incidents_team_households",
    Incident.__table__.c.team_id,
    Incident.__table__.c.occurred_at,
    Incident.__table__.c.household_id,
    postgresql_where=sa.text(_REPORTED),
    sqlite_where=sa.text(_REPORTED),
)
# Open RIDDOR deadlines, soonest first: walk the deadlines, stop at 50.
sa.Index(
    "ix_incident_riddor_report_by",
    IncidentRiddor.__table__.c.report_by,
    IncidentRiddor.__table__.c.incident_id,
)
