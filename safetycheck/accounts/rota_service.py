"""Keeping the rota: layers, rotations and their members, overrides. Services flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import Team, User
from safetycheck.accounts.rota import DAY_NAMES, parse_clock
from safetycheck.accounts.rota_models import RotaLayer, RotaOverride, Rotation, RotationMember, ShiftUnit
from safetycheck.errors import Conflict, NotFound, ValidationFailed
from safetycheck.extensions import db

MAX_SHIFT = {ShiftUnit.HOURS: 24 * 28, ShiftUnit.DAYS: 28, ShiftUnit.WEEKS: 8}


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationFailed("A name is required.", {"name": ["Must not be blank."]})
    return value


def _check_team(team_id: int | None) -> None:
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise ValidationFailed("Unknown team.", {"team_id": ["No such team."]})


def _active_user(user_id: int, field: str) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationFailed("Unknown user.", {field: [f"No active user {user_id}."]})
    return user


def check_windows(windows: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Normalise layer windows; a bad one is named by its position in the list."""
    if windows is None:
        return None
    if not windows:
        raise ValidationFailed(
            "A layer needs a window.", {"windows": ["Give at least one window, or leave it out for always."]}
        )
    clean = []
    for n, window in enumerate(windows):
        days = [str(d).lower() for d in window.get("days", [])]
        problems: dict[str, list[str]] = {}
        if not days or any(d not in DAY_NAMES for d in days):
            problems["days"] = [f"Give days from {', '.join(DAY_NAMES)}."]
        for key in ("from", "until"):
            try:
                parse_clock(str(window.get(key, "")))
            except ValueError:
                problems[key] = ["Give a time of day as HH:MM, e.g. 17:00."]
        if problems:
            raise ValidationFailed("Invalid window.", {"windows": {str(n): problems}})
        clean.append(
            {"days": sorted(set(days), key=DAY_NAMES.index), "from": window["from"], "until": window["until"]}
        )
    return clean


# --- layers -----------------------------------------------------------------------------------


def list_layers() -> list[RotaLayer]:
    return list(db.session.scalars(sa.select(RotaLayer).order_by(RotaLayer.priority.desc(), RotaLayer.id)))


def get_layer(layer_id: int) -> RotaLayer:
    layer = db.session.get(RotaLayer, layer_id)
    if layer is None:
        raise NotFound("Layer not found.")
    return layer


def _layer_name_free(name: str, layer_id: int | None = None) -> None:
    holder = db.session.scalar(sa.select(RotaLayer.id).where(sa.func.lower(RotaLayer.name) == name.lower()))
    if holder is not None and holder != layer_id:
        raise Conflict("A layer with that name exists.", {"name": ["Already in use."]})


def create_layer(
    *, name: str, priority: int, windows: Sequence[dict[str, Any]] | None, now: datetime
) -> RotaLayer:
    name = _name(name)
    _layer_name_free(name)
    layer = RotaLayer(name=name, priority=priority, windows=check_windows(windows), created_at=now)
    db.session.add(layer)
    db.session.flush()
    return layer


def update_layer(layer_id: int, changes: dict[str, Any]) -> RotaLayer:
    layer = get_layer(layer_id)
    if "name" in changes:
        name = _name(changes["name"])
        _layer_name_free(name, layer.id)
        layer.name = name
    if "priority" in changes:
        layer.priority = changes["priority"]
    if "windows" in changes:
        layer.windows = check_windows(changes["windows"])
    db.session.flush()
    return layer


def delete_layer(layer_id: int) -> None:
    layer = get_layer(layer_id)
    if db.session.scalar(sa.select(Rotation.id).where(Rotation.layer_id == layer.id).limit(1)):
        raise Conflict("Rotations use this layer.", {"layer_id": ["Move or delete its rotations first."]})
    db.session.delete(layer)
    db.session.flush()


# --- rotations --------------------------------------------------------------------------------


def list_rotations(*, team_id: int | None = None, visible_to_team: int | None = None) -> list[Rotation]:
    """Every rotation; or one team's; or what a team's manager sees (theirs and cross-team)."""
    query = sa.select(Rotation).order_by(
        Rotation.team_id.is_not(None), Rotation.team_id, Rotation.name, Rotation.id
    )
    if team_id is not None:
        query = query.where(Rotation.team_id == team_id)
    if visible_to_team is not None:
        query = query.where(sa.or_(Rotation.team_id.is_(None), Rotation.team_id == visible_to_team))
    return list(db.session.scalars(query))


def get_rotation(rotation_id: int) -> Rotation:
    rotation = db.session.get(Rotation, rotation_id)
    if rotation is None:
        raise NotFound("Rotation not found.")
    return rotation


def _check_shift(length: int, unit: ShiftUnit) -> None:
    if not 1 <= length <= MAX_SHIFT[unit]:
        raise ValidationFailed(
            "Invalid shift length.", {"shift_length": [f"Must be 1 to {MAX_SHIFT[unit]} {unit.value}."]}
        )


def create_rotation(
    *,
    name: str,
    team_id: int | None,
    layer_id: int | None,
    handover_time: time,
    shift_length: int,
    shift_unit: ShiftUnit,
    starts_on: date,
    member_ids: Sequence[int] = (),
    now: datetime,
) -> Rotation:
    """A new rotation; members take turns in the order given."""
    name = _name(name)
    _check_team(team_id)
    if layer_id is not None and db.session.get(RotaLayer, layer_id) is None:
        raise ValidationFailed("Unknown layer.", {"layer_id": ["No such layer."]})
    _check_shift(shift_length, shift_unit)
    rotation = Rotation(
        name=name,
        team_id=team_id,
        layer_id=layer_id,
        handover_time=handover_time.replace(second=0, microsecond=0),
        shift_length=shift_length,
        shift_unit=shift_unit,
        starts_on=starts_on,
        created_at=now,
    )
    db.session.add(rotation)
    db.session.flush()
    if member_ids:
        set_members(rotation.id, member_ids)
    return rotation


def update_rotation(rotation_id: int, changes: dict[str, Any]) -> Rotation:
    rotation = get_rotation(rotation_id)
    if "name" in changes:
        rotation.name = _name(changes["name"])
    if "team_id" in changes:
        _check_team(changes["team_id"])
        rotation.team_id = changes["team_id"]
    if "layer_id" in changes:
        if changes["layer_id"] is not None and db.session.get(RotaLayer, changes["layer_id"]) is None:
            raise ValidationFailed("Unknown layer.", {"layer_id": ["No such layer."]})
        rotation.layer_id = changes["layer_id"]
    for key in ("handover_time", "starts_on", "shift_length", "shift_unit"):
        if key in changes:
            setattr(rotation, key, changes[key])
    _check_shift(rotation.shift_length, rotation.shift_unit)
    db.session.flush()
    db.session.refresh(rotation)
    return rotation


def delete_rotation(rotation_id: int) -> None:
    db.session.delete(get_rotation(rotation_id))
    db.session.flush()


def set_members(rotation_id: int, user_ids: Sequence[int]) -> Rotation:
    """Replace the members with these people, taking turns in this order."""
    rotation = get_rotation(rotation_id)
    if len(set(user_ids)) != len(user_ids):
        raise ValidationFailed("Someone is listed twice.", {"user_ids": ["Each person may appear once."]})
    for user_id in user_ids:
        _active_user(user_id, "user_ids")
    rotation.members.clear()
    db.session.flush()
    for position, user_id in enumerate(user_ids):
        rotation.members.append(RotationMember(user_id=user_id, position=position))
    db.session.flush()
    return rotation


def add_member(rotation_id: int, user_id: int) -> Rotation:
    """Put someone at the end of the order."""
    rotation = get_rotation(rotation_id)
    return set_members(rotation.id, [m.user_id for m in rotation.members] + [user_id])


def move_member(rotation_id: int, user_id: int, *, offset: int) -> Rotation:
    """Move someone up (-1) or down (+1) the order."""
    rotation = get_rotation(rotation_id)
    order = [m.user_id for m in rotation.members]
    if user_id not in order:
        raise NotFound("Not a member of this rotation.")
    n = order.index(user_id)
    target = max(0, min(len(order) - 1, n + offset))
    order.insert(target, order.pop(n))
    return set_members(rotation.id, order)


def remove_member(rotation_id: int, user_id: int) -> Rotation:
    rotation = get_rotation(rotation_id)
    order = [m.user_id for m in rotation.members]
    if user_id not in order:
        raise NotFound("Not a member of this rotation.")
    order.remove(user_id)
    return set_members(rotation.id, order)


# --- overrides --------------------------------------------------------------------------------


def list_overrides(*, ending_after: datetime, visible_to_team: int | None = None) -> list[RotaOverride]:
    query = (
        sa.select(RotaOverride).where(RotaOverride.ends_at > ending_after).order_by(RotaOverride.starts_at)
    )
    if visible_to_team is not None:
        query = query.where(sa.or_(RotaOverride.team_id.is_(None), RotaOverride.team_id == visible_to_team))
    return list(db.session.scalars(query))


def get_override(override_id: int) -> RotaOverride:
    override = db.session.get(RotaOverride, override_id)
    if override is None:
        raise NotFound("Override not found.")
    return override


def create_override(
    *,
    user_id: int,
    team_id: int | None,
    starts_at: datetime,
    ends_at: datetime,
    note: str | None,
    created_by_id: int | None,
    now: datetime,
) -> RotaOverride:
    """Someone covers from `starts_at` until `ends_at`, in place of the rotations."""
    _active_user(user_id, "user_id")
    _check_team(team_id)
    if ends_at <= starts_at:
        raise ValidationFailed(
            "The cover must end after it starts.", {"ends_at": ["Must be after starts_at."]}
        )
    if ends_at <= now:
        raise ValidationFailed("That cover is over already.", {"ends_at": ["Must be in the future."]})
    override = RotaOverride(
        user_id=user_id,
        team_id=team_id,
        starts_at=starts_at,
        ends_at=ends_at,
        note=(note or "").strip() or None,
        created_by_id=created_by_id,
        created_at=now,
    )
    db.session.add(override)
    db.session.flush()
    return override


def delete_override(override_id: int) -> None:
    db.session.delete(get_override(override_id))
    db.session.flush()
