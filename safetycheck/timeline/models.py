"""Timeline entries. Rows are only ever inserted: nothing here is edited or deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from safetycheck.extensions import Model


class TimelineEntry(Model):
    __tablename__ = "timeline_entries"
    __table_args__ = (sa.Index("ix_timeline_subject", "subject_type", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(sa.String(20))  # visit, alarm, incident, household
    subject_id: Mapped[int]
    event: Mapped[str] = mapped_column(sa.String(40))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: the system
    # Hidden from the practitioner the subject concerns (a duress alarm must never show to them).
    restricted: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
