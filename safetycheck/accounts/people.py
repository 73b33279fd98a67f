"""An admin's changes to people: edit details, deactivate and reactivate, clear an undeliverable flag.

Every change that could leave a team's escalation texts with nobody to reach is refused: a
team's only manager cannot stop being one while the team has practitioners. Services flush,
never commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.accounts.phones import normalise_phone
from safetycheck.errors import Conflict, ValidationFailed
from safetycheck.extensions import db

TEAM_ROLES = (Role.PRACTITIONER, Role.MANAGER)


def update_user(
    user_id: int,
    *,
    acting_user_id: int,
    name: str,
    phone: str,
    role: Role,
    team_id: int | None,
    phone_region: str = "GB",
) -> User:
    """Change a person's name, phone, role and team with the same rules as creating them."""
    user = account_service.get_user(user_id)
    clean_name = name.strip()
    if not clean_name:
        raise ValidationFailed("A name is required.", {"name": ["Enter a name."]})
    e164 = normalise_phone(phone, default_region=phone_region)
    if role in TEAM_ROLES and team_id is None:
        raise ValidationFailed("A team is required.", {"team_id": [f"Required for role {role}."]})
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise ValidationFailed("Unknown team.", {"team_id": ["No such team."]})
    if user.id == acting_user_id and user.role == Role.ADMIN and role != Role.ADMIN:
        raise Conflict(
            "You cannot remove your own admin role.", {"role": ["You cannot remove your own admin role."]}
        )
    if role != Role.MANAGER or team_id != user.team_id:
        _refuse_if_last_manager(user, field="role" if role != Role.MANAGER else "team_id")
    user.name = clean_name
    user.role = role
    user.team_id = team_id
    db.session.flush()
    if e164 != user.phone:
        # Through the one phone setter, so every rule on numbers (and clearing the flag) applies.
        account_service.set_phone(user.id, phone=phone, phone_region=phone_region)
    return user


def deactivate_user(user_id: int, *, acting_user_id: int, now: datetime) -> User:
    """Stop a person signing in or being texted; their tokens and browser sessions end now, so a
    later reactivation cannot bring a lost phone's sign-in back."""
    user = account_service.get_user(user_id)
    if user.id == acting_user_id:
        raise Conflict("You cannot deactivate yourself.", {"user": ["You cannot deactivate yourself."]})
    if not user.active:
        return user
    _refuse_if_last_manager(user, field="user")
    user.active = False
    account_service.revoke_all_tokens(user.id, now=now)  # browser sessions too
    db.session.flush()
    return user


def reactivate_user(user_id: int) -> User:
    user = account_service.get_user(user_id)
    user.active = True
    db.session.flush()
    return user


def clear_undeliverable(user_id: int) -> User:
    """Try a flagged number again (e.g. the person texted START after STOP)."""
    user = account_service.get_user(user_id)
    user.phone_undeliverable_at = None
    user.phone_undeliverable_reason = None
    db.session.flush()
    return user


def _refuse_if_last_manager(user: User, *, field: str) -> None:
    if user.role != Role.MANAGER or user.team_id is None or not user.active:
        return
    others = db.session.scalar(
        sa.select(sa.func.count()).where(
            User.team_id == user.team_id, User.role == Role.MANAGER, User.active, User.id != user.id
        )
    )
    practitioners = db.session.scalar(
        sa.select(sa.func.count()).where(
            User.team_id == user.team_id, User.role == Role.PRACTITIONER, User.active
        )
    )
    if not others and practitioners:
        message = (
            f"{user.name} is the only manager of their team: its overdue and panic texts would reach "
            "no manager. Add another manager to the team first."
        )
        raise Conflict(message, {field: [message]})


def list_people() -> list[User]:
    """Everyone, active first, by name (the admin's list)."""
    return list(db.session.scalars(sa.select(User).order_by(User.active.desc(), User.name, User.id)))


def list_teams() -> list[Team]:
    return list(db.session.scalars(sa.select(Team).order_by(Team.name, Team.id)))


def team_sizes() -> dict[int, int]:
    """Active people per team id."""
    rows = db.session.execute(
        sa.select(User.team_id, sa.func.count())
        .where(User.active, User.team_id.is_not(None))
        .group_by(User.team_id)
    )
    return {team_id: count for team_id, count in rows if team_id is not None}


def undeliverable_people() -> list[User]:
    """People whose phone Twilio refused: escalation skips them until the number is fixed."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.phone_undeliverable_at.is_not(None))
            .order_by(User.phone_undeliverable_at.desc(), User.id)
        )
    )
