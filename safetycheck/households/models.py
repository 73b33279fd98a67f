"""Households, the visits made to them, and the warning markers on them.

Nothing here is ever deleted: a marker is withdrawn or expires, and every change also goes onto
the timeline. Markers rest on reported incidents (`marker_evidence`), by id.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safetycheck.db import str_enum
from safetycheck.extensions import Model
from safetycheck.households.enums import MarkerStatus


class Household(Model):
    """A home, known by the normalised key of its address (see `addresses.normalise_address`)."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(600), unique=True)
    display_address: Mapped[str] = mapped_column(sa.String(500))
    postcode: Mapped[str | None] = mapped_column(sa.String(8), index=True)
    created_at: Mapped[datetime]


class VisitHousehold(Model):
    """Which household a visit was at: the exposure for repeat-address figures."""

    __tablename__ = "visit_households"

    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visits.id"), primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    linked_at: Mapped[datetime]


class Marker(Model):
    """A warning on a household, with the controls agreed; shown and enforced at check-in."""

    __tablename__ = "markers"
    __table_args__ = (sa.Index("ix_markers_status_review_at", "status", "review_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    status: Mapped[MarkerStatus] = mapped_column(str_enum(MarkerStatus, 30))
    reason: Mapped[str] = mapped_column(sa.Text)  # factual wording, shown at check-in
    controls: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)  # the owners
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"))  # proposed from
    proposed_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(sa.Text)
    review_at: Mapped[datetime]
    review_notified_at: Mapped[datetime | None]
    renewed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    household: Mapped[Household] = relationship(lazy="joined")


class MarkerEvidence(Model):
    """The incidents a marker rests on: a marker is only ever justified by reported incidents."""

    __tablename__ = "marker_evidence"

    marker_id: Mapped[int] = mapped_column(sa.ForeignKey("markers.id"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), primary_key=True, index=True)
    added_at: Mapped[datetime]
    added_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
