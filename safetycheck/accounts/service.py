"""Account operations: teams, users, sign-in tokens and duress PINs. Services flush, never commit."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts import sessions
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import ApiToken, Team, User
from safetycheck.accounts.phones import normalise_phone
from safetycheck.db import unique_violation
from safetycheck.errors import Conflict, NotFound, ValidationFailed
from safetycheck.extensions import db

# ASCII digits only: `\d` also matches Arabic-Indic and other digits a phone keypad cannot type.
PIN_PATTERN = re.compile(r"[0-9]{4,8}")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: ApiToken


def _team_name_taken() -> Conflict:
    return Conflict("A team with that name exists.", {"name": ["Already in use."]})


def _email_taken() -> Conflict:
    return Conflict("A user with that email exists.", {"email": ["Already in use."]})


def _phone_taken() -> Conflict:
    return Conflict(
        "Another user has that phone number.",
        {"phone": ["Already in use: texts are matched to people by their number, so each needs their own."]},
    )


def _flush_unique(obj: object, conflicts: Mapping[str, Callable[[], Conflict]]) -> None:
    """Write `obj`; a unique key another request took since our check gives that check's Conflict."""
    try:
        with db.session.begin_nested():
            db.session.add(obj)
    except sa.exc.IntegrityError as exc:
        for column in unique_violation(exc) or ():
            if column in conflicts:
                raise conflicts[column]() from exc
        raise


def _required_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("A name is required.", {"name": ["Must not be blank."]})
    return name


def create_team(*, name: str, now: datetime) -> Team:
    name = _required_name(name)
    # lower() on both sides, as in the unique index: SQLite's lower() folds only ASCII, Python's
    # folds "Ç" too, and the mismatch let an exact duplicate past the check.
    if db.session.scalar(sa.select(Team.id).where(sa.func.lower(Team.name) == sa.func.lower(name))):
        raise _team_name_taken()
    team = Team(name=name, created_at=now)
    _flush_unique(team, {"name": _team_name_taken})
    return team


def get_team(team_id: int) -> Team:
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("Team not found.")
    return team


def create_user(
    *,
    name: str,
    email: str,
    phone: str,
    role: Role,
    team_id: int | None,
    password: str,
    now: datetime,
    on_call: bool = False,
    duress_pin: str | None = None,
    phone_region: str = "GB",
) -> User:
    """Create a user; practitioners and managers must belong to a team (escalation follows teams)."""
    name = _required_name(name)
    email = email.strip().lower()
    e164 = normalise_phone(phone, default_region=phone_region)
    if role in (Role.PRACTITIONER, Role.MANAGER) and team_id is None:
        raise ValidationFailed("A team is required.", {"team_id": [f"Required for role {role}."]})
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise ValidationFailed("Unknown team.", {"team_id": ["No such team."]})
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise _email_taken()
    _check_phone_free(e164)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            "Password too short.", {"password": [f"Must be at least {MIN_PASSWORD_LENGTH} characters."]}
        )
    if duress_pin is not None:
        _check_pin(duress_pin)
    user = User(
        name=name,
        email=email,
        phone=e164,
        role=role,
        team_id=team_id,
        password_hash=account_secrets.hash_secret(password),
        duress_pin_hash=account_secrets.hash_secret(duress_pin) if duress_pin else None,
        on_call=on_call,
        created_at=now,
    )
    _flush_unique(user, {"email": _email_taken, "phone": _phone_taken})
    return user


def _check_phone_free(e164: str, *, user_id: int | None = None) -> None:
    """Refuse a number another user (active or not) already has; inbound texts could not tell them apart."""
    holder = db.session.scalar(sa.select(User.id).where(User.phone == e164))
    if holder is not None and holder != user_id:
        raise _phone_taken()


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def find_user_by_phone(phone: str) -> User | None:
    """The active user with this E.164 number (numbers are unique, so at most one)."""
    return db.session.scalar(sa.select(User).where(User.phone == phone, User.active))


def set_on_call(user_id: int, *, on_call: bool) -> User:
    user = get_user(user_id)
    user.on_call = on_call
    db.session.flush()
    return user


def set_phone(user_id: int, *, phone: str, phone_region: str = "GB") -> User:
    """Change a number; a corrected number is worth trying again, so the undeliverable flag clears."""
    user = get_user(user_id)
    e164 = normalise_phone(phone, default_region=phone_region)
    _check_phone_free(e164, user_id=user.id)
    user.phone = e164
    user.phone_undeliverable_at = None
    user.phone_undeliverable_reason = None
    _flush_unique(user, {"phone": _phone_taken})
    return user


def authenticate(*, email: str, password: str, device: str, now: datetime, ttl: timedelta) -> IssuedToken:
    """Check a password and issue a device token; a wrong email and a wrong password look alike."""
    user = find_user_by_email(email)
    ok = account_secrets.verify_secret(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise ValidationFailed("Wrong email or password.", {"password": ["Wrong email or password."]})
    return issue_token(user, device=device, now=now, ttl=ttl)


def issue_token(user: User, *, device: str, now: datetime, ttl: timedelta) -> IssuedToken:
    """A device token for a user whose password was checked (see `accounts.signin`)."""
    token, digest = account_secrets.new_token()
    record = ApiToken(
        user_id=user.id,
        token_hash=digest,
        device=device.strip()[:120],
        created_at=now,
        expires_at=now + ttl,
    )
    db.session.add(record)
    db.session.flush()
    return IssuedToken(token=token, record=record)


def user_for_token(token: str, *, now: datetime) -> tuple[User, ApiToken] | None:
    """Resolve a bearer token to its user, or None when missing, expired, revoked or disabled."""
    record = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == account_secrets.token_digest(token))
    )
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    if not record.user.active:
        return None
    # Writing on every request would serialise all reads on SQLite; a minute's precision is enough.
    if record.last_used_at is None or now - record.last_used_at > timedelta(minutes=1):
        record.last_used_at = now
    return record.user, record


def revoke_token(token_id: int, *, now: datetime) -> None:
    record = db.session.get(ApiToken, token_id)
    if record is not None and record.revoked_at is None:
        record.revoked_at = now
        db.session.flush()


def revoke_all_tokens(user_id: int, *, now: datetime) -> int:
    """Sign a user out everywhere (a lost or stolen phone), browsers included; returns how many
    device tokens stopped working."""
    get_user(user_id)
    sessions.end_all_sessions(user_id, now=now)
    result = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_duress_pin(user_id: int, *, pin: str) -> None:
    """Store a duress PIN (4 to 8 digits) hashed, like a password."""
    _check_pin(pin)
    user = get_user(user_id)
    user.duress_pin_hash = account_secrets.hash_secret(pin)
    db.session.flush()


def is_duress_pin(user: User, pin: str) -> bool:
    return account_secrets.verify_secret(user.duress_pin_hash, pin)


def _check_pin(pin: str) -> None:
    if not PIN_PATTERN.fullmatch(pin):
        raise ValidationFailed("Invalid PIN.", {"pin": ["Must be 4 to 8 digits."]})


def team_managers(team_id: int) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.team_id == team_id, User.role == Role.MANAGER, User.active)
            .order_by(User.id)
        )
    )


def on_call_users() -> list[User]:
    """Users with the old always-on flag only; who is on call at a moment is `rota.on_call_at`."""
    return list(db.session.scalars(sa.select(User).where(User.on_call, User.active).order_by(User.id)))
