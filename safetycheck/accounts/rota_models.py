"""The on-call rota: layers of cover, rotations of people, and overrides for a period.

Stored plainly; `accounts/rota.py` works out who is on call at a moment from these rows.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safetycheck.accounts.models import Team, User
from safetycheck.db import str_enum
from safetycheck.extensions import Model


class ShiftUnit(StrEnum):
    # Days and weeks are counted on the local calendar (a 09:00 hand-over stays at 09:00 across
    # a clock change); hours are exact elapsed time.
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class RotaLayer(Model):
    """When a set of rotations applies (e.g. out of hours); the active layer of highest priority wins.

    `windows` is a list of `{"days": ["mon", ...], "from": "17:00", "until": "09:00"}` in the
    service's time zone: each begins on a listed day at `from` and ends at `until` that day, or
    the next day when `until` is not later (equal: a whole day). None means always active.
    """

    __tablename__ = "rota_layers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    priority: Mapped[int]
    windows: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]


class Rotation(Model):
    """People taking turns in order; shift k starts at `starts_on` + k shifts, at `handover_time`.

    A rotation without a team covers every team; one without a layer is in the base layer
    (always active, below every layer).
    """

    __tablename__ = "rota_rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    layer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rota_layers.id"), index=True)
    handover_time: Mapped[time]
    shift_length: Mapped[int]
    shift_unit: Mapped[ShiftUnit] = mapped_column(str_enum(ShiftUnit))
    starts_on: Mapped[date]
    created_at: Mapped[datetime]

    team: Mapped[Team | None] = relationship()
    layer: Mapped[RotaLayer | None] = relationship()
    members: Mapped[list[RotationMember]] = relationship(
        order_by="RotationMember.position", cascade="all, delete-orphan", back_populates="rotation"
    )


class RotationMember(Model):
    __tablename__ = "rota_members"
    __table_args__ = (sa.UniqueConstraint("rotation_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rotation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rota_rotations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    position: Mapped[int]

    rotation: Mapped[Rotation] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class RotaOverride(Model):
    """Someone covers a period ("Sam covers Friday night") in place of the rotations, for a team or all."""

    __tablename__ = "rota_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(sa.String(200))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    team: Mapped[Team | None] = relationship()
