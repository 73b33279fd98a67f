"""The visit record: where a practitioner is and when they are due out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safetycheck.accounts.models import User
from safetycheck.db import str_enum
from safetycheck.extensions import Model
from safetycheck.visits.enums import CheckoutOutcome, VisitStatus


class Visit(Model):
    __tablename__ = "visits"
    __table_args__ = (
        # At most one current visit per practitioner, enforced by the database so that two
        # check-ins racing from a flaky phone cannot both win.
        sa.Index(
            "uq_visits_one_current_per_practitioner",
            "practitioner_id",
            unique=True,
            sqlite_where=sa.text("status IN ('active', 'overdue')"),
            postgresql_where=sa.text("status IN ('active', 'overdue')"),
        ),
        sa.UniqueConstraint("practitioner_id", "idempotency_key"),
        # The sweep's query: current visits by due time.
        sa.Index("ix_visits_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    status: Mapped[VisitStatus] = mapped_column(str_enum(VisitStatus), default=VisitStatus.ACTIVE)
    address: Mapped[str] = mapped_column(sa.String(500))
    case_ref: Mapped[str | None] = mapped_column(sa.String(64))
    companion_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    checked_in_at: Mapped[datetime] = mapped_column(index=True)  # the register's exposure counts
    due_at: Mapped[datetime]
    checked_out_at: Mapped[datetime | None]
    # When the before-due reminder for the current due time was texted; cleared by an extension.
    reminded_at: Mapped[datetime | None]
    outcome: Mapped[CheckoutOutcome | None] = mapped_column(str_enum(CheckoutOutcome))
    # Warnings shown at check-in (household markers), kept as shown for the record.
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    # sha256 of the check-in request that used the key: a retry replays, another request is refused.
    # Null on rows stored before it was kept.
    idempotency_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # Only the latest position is kept, and only during a visit: staff fear being tracked.
    last_lat: Mapped[float | None]
    last_lon: Mapped[float | None]
    last_accuracy_m: Mapped[float | None]
    last_located_at: Mapped[datetime | None]

    # Not joined eagerly: the sweep locks visits with `FOR UPDATE SKIP LOCKED`, which PostgreSQL
    # refuses on a query with an eager LEFT OUTER JOIN (and would lock the user rows as well).
    practitioner: Mapped[User] = relationship(foreign_keys=[practitioner_id])

    @property
    def is_current(self) -> bool:
        return self.status in (VisitStatus.ACTIVE, VisitStatus.OVERDUE)
