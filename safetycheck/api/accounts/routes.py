"""Sign-in tokens, the current user, teams and users."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_smorest import abort

from safetycheck import limits
from safetycheck.accounts import service as account_service
from safetycheck.accounts import signin
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.accounts.setup import signin_rules
from safetycheck.api.accounts.schemas import (
    DuressPinSchema,
    MeSchema,
    RevokedSchema,
    TeamCreateSchema,
    TeamSchema,
    TokenCreateSchema,
    TokenSchema,
    UnlockedSchema,
    UserCreateSchema,
    UserPageSchema,
    UserQueryArgsSchema,
    UserSchema,
    UserUpdateSchema,
)
from safetycheck.api.auth import current_token, current_user, login_required, now
from safetycheck.api.common import Blueprint, paginate
from safetycheck.errors import ValidationFailed
from safetycheck.extensions import db

blp = Blueprint("accounts", __name__, description="Sign-in, the current user, teams and users")


@blp.route("/auth/tokens", methods=["POST"])
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenSchema)
@blp.alt_response(
    429,
    description="Too many wrong passwords or attempts for this address or account: wait `Retry-After` s",
)
def create_token(body: dict[str, Any]) -> dict[str, Any]:
    """Sign in from a device; the token is shown once and stored only as a hash.

    Repeated wrong passwords lock the address for a while (429 with Retry-After), exactly as on
    the web's sign-in page; so do too many attempts from one network address or for one account,
    and too many tokens for one person.
    """
    limits.enforce("RATELIMIT_SIGNIN_PER_ADDRESS", limits.remote_address())
    limits.enforce("RATELIMIT_SIGNIN_PER_ACCOUNT", signin.email_digest(body["email"]))
    moment = now()
    result = signin.attempt(
        email=body["email"],
        password=body["password"],
        now=moment,
        rules=signin_rules(current_app),
        channel="api",
    )
    db.session.commit()  # a failure must be counted even though this request fails
    if result.user is None and result.locked_until is not None:
        wait = result.retry_after_seconds(moment)
        abort(
            429,
            message=f"Too many failed sign-ins for this address. Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    if result.user is None:
        raise ValidationFailed(signin.WRONG_CREDENTIALS, {"password": [signin.WRONG_CREDENTIALS]})
    limits.enforce(
        "RATELIMIT_TOKENS_PER_ACCOUNT",
        str(result.user.id),
        "Too many sign-ins for this person; sign out unused devices or try again later.",
    )
    issued = account_service.issue_token(
        result.user,
        device=body["device"],
        now=moment,
        ttl=timedelta(days=current_app.config["TOKEN_TTL_DAYS"]),
    )
    db.session.commit()
    return {
        "token": issued.token,
        "expires_at": issued.record.expires_at,
        "user": issued.record.user,
    }


@blp.route("/auth/tokens/current", methods=["DELETE"])
@login_required()
@blp.response(204)
def delete_current_token() -> None:
    """Sign out this device."""
    account_service.revoke_token(current_token().id, now=now())
    db.session.commit()


@blp.route("/me", methods=["GET"])
@login_required()
@blp.response(200, MeSchema)
def get_me() -> Any:
    return current_user()


@blp.route("/me/duress-pin", methods=["PUT"])
@login_required()
@blp.arguments(DuressPinSchema)
@blp.response(204)
def put_duress_pin(body: dict[str, Any]) -> None:
    """Set the PIN that checks out normally on screen but raises a silent alarm."""
    account_service.set_duress_pin(current_user().id, pin=body["pin"])
    db.session.commit()


@blp.route("/teams", methods=["POST"])
@login_required(Role.ADMIN)
@blp.arguments(TeamCreateSchema)
@blp.response(201, TeamSchema)
def create_team(body: dict[str, Any]) -> Any:
    team = account_service.create_team(name=body["name"], now=now())
    db.session.commit()
    return team


@blp.route("/users", methods=["POST"])
@login_required(Role.ADMIN)
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
def create_user(body: dict[str, Any]) -> Any:
    user = account_service.create_user(
        **body, now=now(), phone_region=current_app.config["DEFAULT_PHONE_REGION"]
    )
    db.session.commit()
    return user


@blp.route("/users", methods=["GET"])
@login_required(Role.ADMIN)
@blp.arguments(UserQueryArgsSchema, location="query")
@blp.response(200, UserPageSchema)
def list_users(args: dict[str, Any]) -> dict[str, Any]:
    """People, filterable; `undeliverable=true` lists the numbers an admin must correct."""
    query = sa.select(User).order_by(User.name, User.id)
    for name in ("team_id", "role", "on_call"):
        if name in args:
            query = query.where(getattr(User, name) == args[name])
    if "undeliverable" in args:
        flagged = User.phone_undeliverable_at.is_not(None)
        query = query.where(flagged if args["undeliverable"] else sa.not_(flagged))
    return paginate(query, page=args["page"], per_page=args["per_page"])


@blp.route("/users/<id:user_id>", methods=["GET"])
@login_required(Role.ADMIN)
@blp.response(200, UserSchema)
def get_user(user_id: int) -> Any:
    return account_service.get_user(user_id)


@blp.route("/users/<id:user_id>", methods=["PATCH"])
@login_required(Role.ADMIN)
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
def update_user(body: dict[str, Any], user_id: int) -> Any:
    """Mark a user on call or off, or correct their phone (which clears an undeliverable flag)."""
    user = account_service.get_user(user_id)
    if "on_call" in body:
        account_service.set_on_call(user.id, on_call=body["on_call"])
    if "phone" in body:
        account_service.set_phone(
            user.id, phone=body["phone"], phone_region=current_app.config["DEFAULT_PHONE_REGION"]
        )
    db.session.commit()
    return user


@blp.route("/users/<id:user_id>/unlock", methods=["POST"])
@login_required(Role.ADMIN)
@blp.response(200, UnlockedSchema)
def unlock_user(user_id: int) -> dict[str, bool]:
    """Let a person locked out by wrong passwords sign in again at once (forgets their failures)."""
    unlocked = signin.unlock(user_id)
    db.session.commit()
    return {"unlocked": unlocked}


@blp.route("/users/<id:user_id>/tokens", methods=["DELETE"])
@login_required(Role.ADMIN)
@blp.response(200, RevokedSchema)
def revoke_user_tokens(user_id: int) -> dict[str, int]:
    """Sign a user out on every device, e.g. after a lost phone."""
    count = account_service.revoke_all_tokens(user_id, now=now())
    db.session.commit()
    return {"revoked": count}
