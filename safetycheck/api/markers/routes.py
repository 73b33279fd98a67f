"""Household markers: list, approve by a second person, reject, withdraw, renew; households."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, jsonify

from safetycheck.accounts.enums import Role
from safetycheck.api.auth import current_user, login_required, now
from safetycheck.api.common import Blueprint, paginate
from safetycheck.api.markers.schemas import (
    HouseholdSchema,
    MarkerDecisionSchema,
    MarkerPageSchema,
    MarkerQueryArgsSchema,
    MarkerRejectSchema,
    MarkerRenewSchema,
    MarkerSchema,
    MarkerWithdrawSchema,
)
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households import matching as households
from safetycheck.households.models import Marker, VisitHousehold
from safetycheck.incidents import marker_proposals, reach
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident

blp = Blueprint("markers", __name__, description="Household warning markers and households")

STAFF = (Role.MANAGER, Role.HS_LEAD, Role.ADMIN)


def _dump(marker: Marker) -> dict[str, Any]:
    data = MarkerSchema().dump(marker)
    data["evidence_incident_ids"] = marker_service.evidence_ids(marker.id)
    return data


def marker_detail(marker: Marker, status: int = 200) -> Response:
    response = jsonify(_dump(marker))
    response.status_code = status
    return response


@blp.route("/markers", methods=["GET"])
@login_required(*STAFF)
@blp.arguments(MarkerQueryArgsSchema, location="query")
@blp.response(200, MarkerPageSchema)
def list_markers(args: dict[str, Any]) -> Response:
    """Markers in reach; `due_for_review=true` lists those whose review date is within 30 days."""
    moment = now()
    query = marker_service.visible_markers(current_user())
    if args.get("status"):
        query = query.where(Marker.status.in_(args["status"]))
    for name in ("household_id", "team_id"):
        if args.get(name) is not None:
            query = query.where(getattr(Marker, name) == args[name])
    if args.get("due_for_review") is True:
        query = marker_service.due_for_review(query, now=moment)
    elif args.get("due_for_review") is False:
        query = query.where(
            sa.not_(Marker.id.in_(marker_service.due_for_review(sa.select(Marker.id), now=moment)))
        )
    query = query.order_by(Marker.review_at, Marker.id)
    page = paginate(query, page=args["page"], per_page=args["per_page"])
    page["items"] = [_dump(marker) for marker in page["items"]]
    return jsonify(page)


@blp.route("/markers/<id:marker_id>", methods=["GET"])
@login_required(*STAFF)
@blp.response(200, MarkerSchema)
def get_marker(marker_id: int) -> Response:
    return marker_detail(marker_service.get_marker(current_user(), marker_id))


@blp.route("/markers/<id:marker_id>/approve", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerDecisionSchema)
@blp.response(200, MarkerSchema)
def approve(body: dict[str, Any], marker_id: int) -> Response:
    """Bring a marker into force: a lead or a second manager, never the proposer."""
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_service.approve(current_user(), marker, note=body.get("note"), now=now())
    db.session.commit()
    return marker_detail(marker)


@blp.route("/markers/<id:marker_id>/reject", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerRejectSchema)
@blp.response(200, MarkerSchema)
def reject(body: dict[str, Any], marker_id: int) -> Response:
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_service.reject(current_user(), marker, note=body["note"], now=now())
    db.session.commit()
    return marker_detail(marker)


@blp.route("/markers/<id:marker_id>/withdraw", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerWithdrawSchema)
@blp.response(200, MarkerSchema)
def withdraw(body: dict[str, Any], marker_id: int) -> Response:
    """End a marker that is no longer needed; it stays on record."""
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_service.withdraw(current_user(), marker, reason=body["reason"], now=now())
    db.session.commit()
    return marker_detail(marker)


@blp.route("/markers/<id:marker_id>/renew", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerRenewSchema)
@blp.response(200, MarkerSchema)
def renew(body: dict[str, Any], marker_id: int) -> Response:
    """Extend a marker's review date (at most 12 months ahead), justified by a new incident there."""
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_proposals.renew(
        current_user(),
        marker,
        incident_id=body["incident_id"],
        review_at=body.get("review_at"),
        note=body.get("note"),
        now=now(),
    )
    db.session.commit()
    return marker_detail(marker)


@blp.route("/households/<id:household_id>", methods=["GET"])
@login_required(*STAFF)
@blp.response(200, HouseholdSchema)
def get_household(household_id: int) -> Response:
    """A household with the markers in force there, its visits and the incidents in your reach."""
    user = current_user()
    household = households.get_household(household_id)
    data = HouseholdSchema(exclude=("markers",)).dump(household)
    data["markers"] = [_dump(m) for m in marker_service.active_markers(household.id, now=now())]
    data["visits"] = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(VisitHousehold)
        .where(VisitHousehold.household_id == household.id)
    )
    data["incidents"] = db.session.scalar(
        sa.select(sa.func.count()).where(
            reach.reach_clause(user),
            Incident.household_id == household.id,
            Incident.status != IncidentStatus.DRAFT,
        )
    )
    return jsonify(data)
