"""What the coverage check keeps: the daily result per team, and which admin alerts went out.

Stored rather than recomputed on every page view: /admin and /metrics read the latest daily
check, and a unique (team, day) row makes "admins hear once per team and day" hold across any
number of check-ins and sweeping processes.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from safetycheck.extensions import Model


class CoverCheck(Model):
    """One daily run of the coverage check; the unique day lets one sweeper in a day do it."""

    __tablename__ = "cover_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)  # the service's local day
    checked_at: Mapped[datetime]
    horizon_until: Mapped[datetime]  # the check looked this far ahead (a week)
    teams_checked: Mapped[int] = mapped_column(default=0, server_default="0")


class CoverGap(Model):
    """A team that, for a period within the check's horizon, has nobody its ladder can reach."""

    __tablename__ = "cover_gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(sa.ForeignKey("cover_checks.id"), index=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(sa.String(200))


class CoverAlert(Model):
    """Admins were told that a team has no cover, once per team and local day."""

    __tablename__ = "cover_alerts"
    __table_args__ = (sa.UniqueConstraint("team_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    day: Mapped[date]
    alerted_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(sa.String(20))  # "check_in" or "daily_check"
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id"))
    admins_texted: Mapped[int] = mapped_column(default=0, server_default="0")
