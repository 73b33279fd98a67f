"""The on-call rota: layers, rotations and their members, overrides; who is on call now and next.

Admins change the rota; managers read their own team's (and the cross-team cover), health and
safety leads read all of it. Another team's rotation or override is not found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from safetycheck.accounts import rota, rota_service
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.rota_models import RotaOverride, Rotation
from safetycheck.api.auth import current_user, login_required, now
from safetycheck.api.common import Blueprint
from safetycheck.api.rota.schemas import (
    GapsSchema,
    LayerCreateSchema,
    LayerSchema,
    LayerUpdateSchema,
    MembersSchema,
    OnCallQueryArgsSchema,
    OnCallSchema,
    OverrideCreateSchema,
    OverrideSchema,
    RotationCreateSchema,
    RotationQueryArgsSchema,
    RotationSchema,
    RotationUpdateSchema,
)
from safetycheck.errors import NotFound
from safetycheck.extensions import db

blp = Blueprint(
    "rota", __name__, description="The on-call rota: layers, rotations, overrides, who is on call"
)

READERS = (Role.ADMIN, Role.HS_LEAD, Role.MANAGER)


def _own_team() -> int | None:
    """The team a manager is limited to; None for those who see every team."""
    user = current_user()
    return user.team_id if user.role == Role.MANAGER else None


def _in_reach(team_id: int | None) -> None:
    own = _own_team()
    if own is not None and team_id is not None and team_id != own:
        raise NotFound("Not found.")


def _rotation(rotation_id: int) -> Rotation:
    rotation = rota_service.get_rotation(rotation_id)
    _in_reach(rotation.team_id)
    return rotation


def _override(override_id: int) -> RotaOverride:
    override = rota_service.get_override(override_id)
    _in_reach(override.team_id)
    return override


# --- layers -----------------------------------------------------------------------------------


@blp.route("/rota/layers", methods=["GET"])
@login_required(*READERS)
@blp.response(200, LayerSchema(many=True))
def list_layers() -> Any:
    """The layers of cover, highest priority first."""
    return rota_service.list_layers()


@blp.route("/rota/layers", methods=["POST"])
@login_required(Role.ADMIN)
@blp.arguments(LayerCreateSchema)
@blp.response(201, LayerSchema)
def create_layer(body: dict[str, Any]) -> Any:
    """A layer of cover; its rotations apply inside its windows and beat lower layers there."""
    layer = rota_service.create_layer(**body, now=now())
    db.session.commit()
    return layer


@blp.route("/rota/layers/<id:layer_id>", methods=["GET"])
@login_required(*READERS)
@blp.response(200, LayerSchema)
def get_layer(layer_id: int) -> Any:
    return rota_service.get_layer(layer_id)


@blp.route("/rota/layers/<id:layer_id>", methods=["PATCH"])
@login_required(Role.ADMIN)
@blp.arguments(LayerUpdateSchema)
@blp.response(200, LayerSchema)
def update_layer(body: dict[str, Any], layer_id: int) -> Any:
    layer = rota_service.update_layer(layer_id, body)
    db.session.commit()
    return layer


@blp.route("/rota/layers/<id:layer_id>", methods=["DELETE"])
@login_required(Role.ADMIN)
@blp.response(204)
def delete_layer(layer_id: int) -> None:
    """Delete a layer no rotation uses (409 otherwise)."""
    rota_service.delete_layer(layer_id)
    db.session.commit()


# --- rotations --------------------------------------------------------------------------------


@blp.route("/rota/rotations", methods=["GET"])
@login_required(*READERS)
@blp.arguments(RotationQueryArgsSchema, location="query")
@blp.response(200, RotationSchema(many=True))
def list_rotations(args: dict[str, Any]) -> Any:
    """Rotations; a manager sees their team's and the cross-team ones."""
    if "team_id" in args:
        _in_reach(args["team_id"])
    return rota_service.list_rotations(team_id=args.get("team_id"), visible_to_team=_own_team())


@blp.route("/rota/rotations", methods=["POST"])
@login_required(Role.ADMIN)
@blp.arguments(RotationCreateSchema)
@blp.response(201, RotationSchema)
def create_rotation(body: dict[str, Any]) -> Any:
    """A rotation: members take turns in order, each turn `shift_length` long from `starts_on`."""
    member_ids = body.pop("user_ids")
    rotation = rota_service.create_rotation(**body, member_ids=member_ids, now=now())
    db.session.commit()
    return rotation


@blp.route("/rota/rotations/<id:rotation_id>", methods=["GET"])
@login_required(*READERS)
@blp.response(200, RotationSchema)
def get_rotation(rotation_id: int) -> Any:
    return _rotation(rotation_id)


@blp.route("/rota/rotations/<id:rotation_id>", methods=["PATCH"])
@login_required(Role.ADMIN)
@blp.arguments(RotationUpdateSchema)
@blp.response(200, RotationSchema)
def update_rotation(body: dict[str, Any], rotation_id: int) -> Any:
    rotation = rota_service.update_rotation(rotation_id, body)
    db.session.commit()
    return rotation


@blp.route("/rota/rotations/<id:rotation_id>", methods=["DELETE"])
@login_required(Role.ADMIN)
@blp.response(204)
def delete_rotation(rotation_id: int) -> None:
    rota_service.delete_rotation(rotation_id)
    db.session.commit()


@blp.route("/rota/rotations/<id:rotation_id>/members", methods=["PUT"])
@login_required(Role.ADMIN)
@blp.arguments(MembersSchema)
@blp.response(200, RotationSchema)
def put_members(body: dict[str, Any], rotation_id: int) -> Any:
    """Replace the members; they take turns in the order given."""
    rotation = rota_service.set_members(rotation_id, body["user_ids"])
    db.session.commit()
    return rotation


# --- overrides --------------------------------------------------------------------------------


@blp.route("/rota/overrides", methods=["GET"])
@login_required(*READERS)
@blp.response(200, OverrideSchema(many=True))
def list_overrides() -> Any:
    """Overrides not yet over; a manager sees their team's and those for every team."""
    return rota_service.list_overrides(ending_after=now(), visible_to_team=_own_team())


@blp.route("/rota/overrides", methods=["POST"])
@login_required(Role.ADMIN)
@blp.arguments(OverrideCreateSchema)
@blp.response(201, OverrideSchema)
def create_override(body: dict[str, Any]) -> Any:
    """Someone covers a period in place of the rotations (for a team, or every team)."""
    override = rota_service.create_override(**body, created_by_id=current_user().id, now=now())
    db.session.commit()
    return override


@blp.route("/rota/overrides/<id:override_id>", methods=["GET"])
@login_required(*READERS)
@blp.response(200, OverrideSchema)
def get_override(override_id: int) -> Any:
    return _override(override_id)


@blp.route("/rota/overrides/<id:override_id>", methods=["DELETE"])
@login_required(Role.ADMIN)
@blp.response(204)
def delete_override(override_id: int) -> None:
    rota_service.delete_override(override_id)
    db.session.commit()


# --- who is on call ---------------------------------------------------------------------------


def _team_asked(args: dict[str, Any]) -> int | None:
    team_id = args.get("team_id", _own_team())
    _in_reach(team_id)
    if team_id is not None:
        account_service.get_team(team_id)
    return team_id


@blp.route("/rota/on-call", methods=["GET"])
@login_required(*READERS)
@blp.arguments(OnCallQueryArgsSchema, location="query")
@blp.response(200, OnCallSchema)
def get_on_call(args: dict[str, Any]) -> dict[str, Any]:
    """Who is on call for a team at a moment (default now), and who comes on next and when."""
    team_id = _team_asked(args)
    at: datetime = args.get("at") or now()
    coming = rota.next_on_call(at, team_id=team_id)
    return {
        "team_id": team_id,
        "at": at,
        "current": rota.on_call_at(at, team_id=team_id),
        "next": None if coming is None else {"people": coming[0], "at": coming[1]},
    }


@blp.route("/rota/gaps", methods=["GET"])
@login_required(*READERS)
@blp.arguments(OnCallQueryArgsSchema, location="query")
@blp.response(200, GapsSchema)
def get_gaps(args: dict[str, Any]) -> dict[str, Any]:
    """Periods in the 7 days from `at` (default now) with nobody on call for the team."""
    team_id = _team_asked(args)
    return {"team_id": team_id, "items": rota.gaps_ahead(args.get("at") or now(), team_id=team_id)}
