"""Who is on call at a moment: rotations within layers, overrides for a period, and the old flag.

The rules, in order:

1. An override in force at that moment (for the team, or for every team) puts its people on
   call in place of the rotations ("Sam covers Friday night").
2. Otherwise the rotations of the team and those across teams are grouped by layer; of the
   layers active at that moment, the highest priority one that gives somebody wins, and everyone
   whose turn it is in that layer's rotations is on call. A rotation without a layer is in the
   base layer, always active and below every other.
3. A user with the old `on_call` flag is on call always, for every team, on top of the above: the
   flag is an override that never ends, so data from before the rota means what it meant.

Only active users are ever on call; a deactivated member is skipped and the turns counted over
the others. Times of day (hand-overs, layer windows) are in the service's time zone
(`localtime.py`); shifts counted in days or weeks keep their local hand-over time across a clock
change, shifts counted in hours are exact elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from safetycheck import localtime
from safetycheck.accounts.models import Team, User
from safetycheck.accounts.rota_models import RotaLayer, RotaOverride, Rotation, RotationMember, ShiftUnit
from safetycheck.extensions import db

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead `next_on_call` looks for a change, and the window gaps are flagged in.
NEXT_HORIZON = timedelta(days=31)
GAP_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class Gap:
    """A period with nobody on call for a team (`starts_at` inclusive, `ends_at` exclusive)."""

    team_id: int | None
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Period:
    """A stretch of time with the same people on call for a team (none: a gap)."""

    team_id: int | None
    starts_at: datetime
    ends_at: datetime
    people: list[User]


@dataclass(frozen=True)
class Shift:
    """One turn of one rotation."""

    rotation_id: int
    index: int
    user: User
    starts_at: datetime
    ends_at: datetime


# --- the calendar of a rotation and a layer (pure) --------------------------------------------


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    """A local date and time of day as an aware UTC timestamp."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def shift_start(rotation: Rotation, index: int, tz: tzinfo) -> datetime:
    """When turn `index` of the rotation begins (turn 0 at `starts_on`, at the hand-over time)."""
    first = _local(rotation.starts_on, rotation.handover_time, tz)
    if rotation.shift_unit == ShiftUnit.HOURS:
        return first + timedelta(hours=rotation.shift_length * index)
    days = rotation.shift_length * (7 if rotation.shift_unit == ShiftUnit.WEEKS else 1) * index
    return _local(rotation.starts_on + timedelta(days=days), rotation.handover_time, tz)


def shift_index(rotation: Rotation, at: datetime, tz: tzinfo) -> int | None:
    """The turn in progress at `at`, or None before the rotation starts."""
    first = shift_start(rotation, 0, tz)
    if at < first:
        return None
    if rotation.shift_unit == ShiftUnit.HOURS:
        return int((at - first) // timedelta(hours=rotation.shift_length))
    period = rotation.shift_length * (7 if rotation.shift_unit == ShiftUnit.WEEKS else 1)
    index = max(0, (at.astimezone(tz).date() - rotation.starts_on).days // period)
    # The estimate from the local date can be one off around the hand-over time itself.
    while index > 0 and shift_start(rotation, index, tz) > at:
        index -= 1
    while shift_start(rotation, index + 1, tz) <= at:
        index += 1
    return index


def parse_clock(value: str) -> time:
    """ "17:00" as a time of day; ValueError otherwise."""
    hours, _, minutes = value.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(value)
    return time(int(hours), int(minutes))


def _window_spans(
    window: dict[str, Any], first_day: date, last_day: date, tz: tzinfo
) -> Iterable[tuple[datetime, datetime]]:
    """Each occurrence of a layer window beginning on a day from `first_day` to `last_day`."""
    begins_at, ends_at = parse_clock(window["from"]), parse_clock(window["until"])
    day = first_day
    while day <= last_day:
        if DAY_NAMES[day.weekday()] in window["days"]:
            end_day = day if ends_at > begins_at else day + timedelta(days=1)
            yield _local(day, begins_at, tz), _local(end_day, ends_at, tz)
        day += timedelta(days=1)


def layer_active(layer: RotaLayer | None, at: datetime, tz: tzinfo) -> bool:
    """Whether the layer's cover applies at `at` (no layer, or no windows: always)."""
    if layer is None or layer.windows is None:
        return True
    today = at.astimezone(tz).date()
    return any(
        begins <= at < ends
        for window in layer.windows
        for begins, ends in _window_spans(window, today - timedelta(days=1), today, tz)
    )


# --- a snapshot of the rota for one team ------------------------------------------------------


class _Rota:
    """The rows that decide one team's cover, loaded once and asked about many moments."""

    def __init__(
        self,
        team_id: int | None,
        rotations: Sequence[Rotation],
        overrides: Sequence[RotaOverride],
        always: Sequence[User],
        tz: tzinfo,
    ) -> None:
        self.team_id = team_id
        self.rotations = rotations
        self.overrides = overrides
        self.always = always
        self.tz = tz

    def turn(self, rotation: Rotation, at: datetime) -> Shift | None:
        people = [m.user for m in rotation.members if m.user.active]
        index = shift_index(rotation, at, self.tz)
        if not people or index is None:
            return None
        return Shift(
            rotation_id=rotation.id,
            index=index,
            user=people[index % len(people)],
            starts_at=shift_start(rotation, index, self.tz),
            ends_at=shift_start(rotation, index + 1, self.tz),
        )

    def at(self, at: datetime) -> list[User]:
        people: dict[int, User] = {}
        for override in self.overrides:
            if override.starts_at <= at < override.ends_at and override.user.active:
                people.setdefault(override.user.id, override.user)
        if not people:
            for _, rotations in self._by_layer():
                if not layer_active(rotations[0].layer, at, self.tz):
                    continue
                for rotation in rotations:
                    shift = self.turn(rotation, at)
                    if shift is not None:
                        people.setdefault(shift.user.id, shift.user)
                if people:
                    break
        for user in self.always:
            people.setdefault(user.id, user)
        return list(people.values())

    def _by_layer(self) -> list[tuple[tuple[int, int], list[Rotation]]]:
        """Rotations grouped by layer, highest priority first; the base layer last."""
        groups: dict[tuple[int, int], list[Rotation]] = {}
        for rotation in self.rotations:
            layer = rotation.layer
            key = (layer.priority, -layer.id) if layer is not None else (-(2**31), 0)
            groups.setdefault(key, []).append(rotation)
        return sorted(groups.items(), key=lambda item: item[0], reverse=True)

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """Every moment in (start, end] at which who is on call may change."""
        moments: set[datetime] = set()
        first_day = start.astimezone(self.tz).date() - timedelta(days=1)
        last_day = end.astimezone(self.tz).date()
        layers = {r.layer.id: r.layer for r in self.rotations if r.layer is not None}
        for layer in layers.values():
            for window in layer.windows or ():
                for begins, ends in _window_spans(window, first_day, last_day, self.tz):
                    moments.update((begins, ends))
        for rotation in self.rotations:
            index = shift_index(rotation, start, self.tz)
            index = 0 if index is None else index + 1
            while (moment := shift_start(rotation, index, self.tz)) <= end:
                moments.add(moment)
                index += 1
        for override in self.overrides:
            moments.update((override.starts_at, override.ends_at))
        return sorted(m for m in moments if start < m <= end)


def _load(team_id: int | None, *, start: datetime, end: datetime) -> _Rota:
    in_scope = (
        Rotation.team_id.is_(None)
        if team_id is None
        else sa.or_(Rotation.team_id.is_(None), Rotation.team_id == team_id)
    )
    rotations = db.session.scalars(
        sa.select(Rotation)
        .where(in_scope)
        .options(
            selectinload(Rotation.layer), selectinload(Rotation.members).selectinload(RotationMember.user)
        )
        .order_by(Rotation.id)
    ).all()
    override_scope = (
        RotaOverride.team_id.is_(None)
        if team_id is None
        else sa.or_(RotaOverride.team_id.is_(None), RotaOverride.team_id == team_id)
    )
    overrides = db.session.scalars(
        sa.select(RotaOverride)
        .where(override_scope, RotaOverride.starts_at <= end, RotaOverride.ends_at > start)
        .options(selectinload(RotaOverride.user))
        .order_by(RotaOverride.starts_at, RotaOverride.id)
    ).all()
    always = db.session.scalars(sa.select(User).where(User.on_call, User.active).order_by(User.id)).all()
    return _Rota(team_id, rotations, overrides, always, localtime.local_zone())


# --- the interface ----------------------------------------------------------------------------


def on_call_at(at: datetime, *, team_id: int | None) -> list[User]:
    """Who is on call at `at` for this team (team and cross-team rotations, overrides, the flag)."""
    return _load(team_id, start=at, end=at).at(at)


def next_on_call(at: datetime, *, team_id: int | None) -> tuple[list[User], datetime] | None:
    """Who comes on call at the next change after `at`, and when; None if nothing changes soon.

    The people may be none: that change is the start of a gap.
    """
    rota = _load(team_id, start=at, end=at + NEXT_HORIZON)
    current = {u.id for u in rota.at(at)}
    for moment in rota.changes(at, at + NEXT_HORIZON):
        people = rota.at(moment)
        if {u.id for u in people} != current:
            return people, moment
    return None


def schedule(start: datetime, end: datetime, *, team_id: int | None) -> list[Period]:
    """Who is on call from `start` to `end` for the team, as periods with the same people."""
    rota = _load(team_id, start=start, end=end)
    periods: list[Period] = []
    since, people = start, rota.at(start)
    for moment in [*rota.changes(start, end), end]:
        now_on = rota.at(moment) if moment < end else []
        if moment < end and [u.id for u in now_on] == [u.id for u in people]:
            continue
        if moment > since:
            periods.append(Period(team_id, since, moment, people))
        since, people = moment, now_on
    return periods


def gaps(start: datetime, end: datetime, *, team_id: int | None) -> list[Gap]:
    """The periods from `start` to `end` with nobody on call for the team."""
    return [
        Gap(team_id, p.starts_at, p.ends_at) for p in schedule(start, end, team_id=team_id) if not p.people
    ]


def week_ahead(now: datetime, *, team_id: int | None) -> list[Period]:
    """Who is on call over the next 7 days, for the admin pages."""
    return schedule(now, now + GAP_HORIZON, team_id=team_id)


def gaps_ahead(now: datetime, *, team_id: int | None) -> list[Gap]:
    """Gaps in the next 7 days (the one in progress included)."""
    return gaps(now, now + GAP_HORIZON, team_id=team_id)


def current_shifts(at: datetime) -> list[Shift]:
    """Every rotation's turn in progress at `at` (for the hand-over texts)."""
    rota = _load(None, start=at, end=at)
    rotations = db.session.scalars(
        sa.select(Rotation)
        .options(
            selectinload(Rotation.layer), selectinload(Rotation.members).selectinload(RotationMember.user)
        )
        .order_by(Rotation.id)
    ).all()
    return [shift for rotation in rotations if (shift := rota.turn(rotation, at)) is not None]


def rota_in_use() -> bool:
    """Whether any rotation exists: without one the flag alone decides and there are no gaps to flag."""
    return db.session.scalar(sa.select(Rotation.id).limit(1)) is not None


def on_call_anywhere(at: datetime) -> list[User]:
    """Everyone on call at `at` for some team, or across teams (for the admin overview)."""
    people: dict[int, User] = {}
    team_ids: list[int | None] = [None, *db.session.scalars(sa.select(Team.id).order_by(Team.id))]
    for team_id in team_ids:
        for user in on_call_at(at, team_id=team_id):
            people.setdefault(user.id, user)
    return list(people.values())
