"""What the engine keeps in the database: one heartbeat row per sweeping process."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from safetycheck.extensions import Model


class SweepHeartbeat(Model):
    """The last sweep of each process; /readyz reads the newest from the database."""

    __tablename__ = "sweep_heartbeats"

    instance: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(sa.String(300))
