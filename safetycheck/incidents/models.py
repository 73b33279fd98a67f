"""Incidents with their procedure tracks (households and markers: `safetycheck/households/`).

Nothing here is ever deleted: a closed incident is reopened, a marker is withdrawn or expires,
and every change also goes onto the timeline.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safetycheck.accounts.models import User
from safetycheck.db import str_enum
from safetycheck.extensions import Model
from safetycheck.incidents.enums import (
    ActionStatus,
    DebriefResponse,
    Harm,
    IncidentCategory,
    IncidentStatus,
    InvestigationLevel,
    NearMissKind,
    RiddorState,
)
from safetycheck.incidents.riddor import RiddorClass


class Incident(Model):
    __tablename__ = "incidents"
    __table_args__ = (
        # The register's common shapes: everything by date (leads), a team by date (managers),
        # a reporter by date (practitioners), a category by date (filters).
        sa.Index("ix_incidents_occurred_at_id", "occurred_at", "id"),
        sa.Index("ix_incidents_team_id_occurred_at", "team_id", "occurred_at"),
        sa.Index("ix_incidents_reporter_id_occurred_at", "reporter_id", "occurred_at"),
        sa.Index("ix_incidents_category_occurred_at", "category", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[IncidentStatus] = mapped_column(str_enum(IncidentStatus, 30))
    # Category, description and the two flags are empty only on a draft opened from an alarm.
    category: Mapped[IncidentCategory | None] = mapped_column(str_enum(IncidentCategory, 30))
    description: Mapped[str | None] = mapped_column(sa.Text)
    near_miss: Mapped[bool | None]
    near_miss_kind: Mapped[NearMissKind | None] = mapped_column(str_enum(NearMissKind, 30))
    harmed: Mapped[bool | None]
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    reported_at: Mapped[datetime | None]  # None while a draft: reporting lag counts from here
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # The reporter's team when reported: managers' reach and the per-team figures.
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    alarm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alarms.id"), unique=True)
    address: Mapped[str | None] = mapped_column(sa.String(500))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"), index=True)
    # The household already had an active marker: did the warning fail to protect?
    at_marked_household: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    injury: Mapped[str | None] = mapped_column(sa.Text)
    left_premises: Mapped[bool | None]
    police_called: Mapped[bool | None]
    police_reference: Mapped[str | None] = mapped_column(sa.String(64))
    # A draft's pre-filled record of the alarm and visit timeline, as it stood when opened.
    alarm_summary: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)

    # The procedure: the current step's target and when its owner is next reminded.
    step_due_at: Mapped[datetime | None]
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
    # Where information_required returns to once the reporter answers.
    resume_status: Mapped[IncidentStatus | None] = mapped_column(str_enum(IncidentStatus, 30))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    triaged_at: Mapped[datetime | None]
    triaged_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    harm: Mapped[Harm | None] = mapped_column(str_enum(Harm, 30))
    consequence: Mapped[int | None]
    likelihood: Mapped[int | None]
    risk_score: Mapped[int | None]
    investigation_level: Mapped[InvestigationLevel | None] = mapped_column(str_enum(InvestigationLevel, 30))
    feedback: Mapped[str | None] = mapped_column(sa.Text)
    feedback_at: Mapped[datetime | None]
    feedback_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reopened_count: Mapped[int] = mapped_column(default=0, server_default="0")
    riddor_state: Mapped[RiddorState | None] = mapped_column(str_enum(RiddorState, 30))  # None: not screened

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id], lazy="joined")
    riddor: Mapped[IncidentRiddor | None] = relationship(lazy="selectin")
    support: Mapped[IncidentSupport | None] = relationship(lazy="selectin")


class IncidentRiddor(Model):
    """The RIDDOR track: the screen's inputs, its classification and the HSE submission."""

    __tablename__ = "incident_riddor"

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), primary_key=True)
    physical: Mapped[bool]
    specified_injury: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    death: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # None: not known yet. True with no first_day_back: still unable to do their normal work.
    incapacitated: Mapped[bool | None]
    first_day_back: Mapped[date | None]
    classification: Mapped[RiddorClass] = mapped_column(str_enum(RiddorClass, 30))
    report_by: Mapped[date | None]
    reason: Mapped[str] = mapped_column(sa.String(300))
    # For a worker still off: when the count next changes the answer (the over-7 decisive day).
    reassess_at: Mapped[datetime | None] = mapped_column(index=True)
    hse_reference: Mapped[str | None] = mapped_column(sa.String(40))
    submitted_at: Mapped[datetime | None]
    submitted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class IncidentSupport(Model):
    """The support track: welfare check, debrief, referrals and follow-ups; the worker sees it."""

    __tablename__ = "incident_support"

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), primary_key=True)
    welfare_check_due_at: Mapped[datetime]
    welfare_check_done_at: Mapped[datetime | None]
    welfare_check_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    debrief_offered_at: Mapped[datetime | None]
    debrief_offered_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    debrief_response: Mapped[DebriefResponse | None] = mapped_column(str_enum(DebriefResponse, 30))
    debrief_responded_at: Mapped[datetime | None]
    referrals: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    follow_up_2w_due_at: Mapped[datetime | None]
    follow_up_2w_done_at: Mapped[datetime | None]
    follow_up_6w_due_at: Mapped[datetime | None]
    follow_up_6w_done_at: Mapped[datetime | None]
    # The worker said no more follow-ups: their choice, and the reminders stop.
    declined_at: Mapped[datetime | None]
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)


class IncidentAction(Model):
    """Something to be done because of an incident, by someone, by a date."""

    __tablename__ = "incident_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    due_at: Mapped[datetime]
    status: Mapped[ActionStatus] = mapped_column(str_enum(ActionStatus, 30), default=ActionStatus.OPEN)
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
