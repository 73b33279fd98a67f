"""Household markers: list, approve by a second person, reject, withdraw, renew; households."""

from __future__ import annotations

from typing import Any

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
from safetycheck.households.markers import MarkerDetail
from safetycheck.households.models import Marker
from safetycheck.incidents import marker_proposals
from safetycheck.reporting.households import HouseholdOverview, household_overview

blp = Blueprint("markers", __name__, description="Household warning markers and households")

STAFF = (Role.MANAGER, Role.HS_LEAD, Role.ADMIN)


def marker_detail(marker: Marker, status: int = 200) -> tuple[MarkerDetail, int]:
    return marker_service.marker_detail(marker), status


@blp.route("/markers", methods=["GET"])
@login_required(*STAFF)
@blp.arguments(MarkerQueryArgsSchema, location="query")
@blp.response(200, MarkerPageSchema)
def list_markers(args: dict[str, Any]) -> dict[str, Any]:
    """Markers in reach; `due_for_review=true` lists those whose review date is within 30 days."""
    query = marker_service.find_markers(
        current_user(),
        now=now(),
        status=args.get("status"),
        household_id=args.get("household_id"),
        team_id=args.get("team_id"),
        review_due=args.get("due_for_review"),
    )
    page = paginate(query, page=args["page"], per_page=args["per_page"])
    page["items"] = [marker_service.marker_detail(marker) for marker in page["items"]]
    return page


@blp.route("/markers/<id:marker_id>", methods=["GET"])
@login_required(*STAFF)
@blp.response(200, MarkerSchema)
def get_marker(marker_id: int) -> tuple[MarkerDetail, int]:
    return marker_detail(marker_service.get_marker(current_user(), marker_id))


@blp.route("/markers/<id:marker_id>/approve", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerDecisionSchema)
@blp.response(200, MarkerSchema)
def approve(body: dict[str, Any], marker_id: int) -> tuple[MarkerDetail, int]:
    """Bring a marker into force: a lead or a second manager, never the proposer."""
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_service.approve(current_user(), marker, note=body.get("note"), now=now())
    db.session.commit()
    return marker_detail(marker)


@blp.route("/markers/<id:marker_id>/reject", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerRejectSchema)
@blp.response(200, MarkerSchema)
def reject(body: dict[str, Any], marker_id: int) -> tuple[MarkerDetail, int]:
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_service.reject(current_user(), marker, note=body["note"], now=now())
    db.session.commit()
    return marker_detail(marker)


@blp.route("/markers/<id:marker_id>/withdraw", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerWithdrawSchema)
@blp.response(200, MarkerSchema)
def withdraw(body: dict[str, Any], marker_id: int) -> tuple[MarkerDetail, int]:
    """End a marker that is no longer needed; it stays on record."""
    marker = marker_service.get_marker(current_user(), marker_id, for_update=True)
    marker_service.withdraw(current_user(), marker, reason=body["reason"], now=now())
    db.session.commit()
    return marker_detail(marker)


@blp.route("/markers/<id:marker_id>/renew", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerRenewSchema)
@blp.response(200, MarkerSchema)
def renew(body: dict[str, Any], marker_id: int) -> tuple[MarkerDetail, int]:
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
def get_household(household_id: int) -> HouseholdOverview:
    """A household with the markers in force there, its visits and the incidents in your reach."""
    return household_overview(current_user(), household_id, now=now())
