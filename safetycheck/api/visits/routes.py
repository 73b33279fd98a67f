"""Check-in, extend, check-out and location from the practitioner's phone; visit lists for all."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, current_app, jsonify, request

from safetycheck.accounts.enums import Role
from safetycheck.api.alarms.schemas import AlarmSchema
from safetycheck.api.auth import current_user, login_required, now
from safetycheck.api.common import Blueprint, LocationSchema, TimelineEntrySchema, paginate
from safetycheck.api.visits.schemas import (
    VisitCheckoutSchema,
    VisitCreateSchema,
    VisitDetailSchema,
    VisitExtendSchema,
    VisitPageSchema,
    VisitQueryArgsSchema,
    VisitSchema,
)
from safetycheck.db import commit_keeping_loaded
from safetycheck.errors import ValidationFailed
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmOutcome
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from safetycheck.visits.models import Visit

IDEMPOTENCY_KEY_MAX = 100  # the width of visits.idempotency_key

blp = Blueprint("visits", __name__, description="Home visits: check-in, extend, check-out")


def _location(data: dict[str, Any] | None) -> visit_service.Location | None:
    if not data:
        return None
    return visit_service.Location(lat=data["lat"], lon=data["lon"], accuracy_m=data.get("accuracy_m"))


def visit_detail(visit: Visit) -> Response:
    """A visit with its timeline as the current user may see it."""
    data = VisitSchema().dump(visit)
    data["timeline"] = TimelineEntrySchema(many=True).dump(visit_service.timeline_for(current_user(), visit))
    alarms = AlarmSchema(many=True).dump(alarm_service.alarms_for_visit(current_user(), visit.id))
    if current_user().role == Role.PRACTITIONER:
        # An overdue alarm replaced by a duress alarm must look like any late check-out to the
        # worker (and whoever holds their phone).
        for alarm in alarms:
            if alarm["outcome"] == AlarmOutcome.SUPERSEDED:
                alarm["outcome"] = AlarmOutcome.CHECKED_OUT.value
    data["alarms"] = alarms
    return jsonify(data)


def request_fingerprint() -> str:
    """sha256 of the canonical JSON body (keys sorted, no spaces): the same request, the same hash."""
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@blp.route("/visits", methods=["POST"])
@login_required(Role.PRACTITIONER)
@blp.arguments(VisitCreateSchema)
@blp.response(201, VisitSchema)
@blp.doc(
    parameters=[
        {
            "in": "header",
            "name": "Idempotency-Key",
            "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
        }
    ]
)
def check_in(body: dict[str, Any]) -> Any:
    """Check in before entering a home; answers 409 naming the active visit or a household restriction.

    With an `Idempotency-Key`, a retry of the same request answers the first visit again; the
    same key with a different body answers 422 (as the IETF idempotency-key draft says).
    """
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        # Cutting it short could make two different check-ins share a key, and the second would
        # silently get the first visit back.
        raise ValidationFailed(
            "The Idempotency-Key header is too long.",
            {"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX} characters."]},
        )
    result = visit_service.check_in(
        current_user(),
        address=body["address"],
        duration_minutes=body.get("duration_minutes"),
        expected_end=body.get("expected_end"),
        case_ref=body.get("case_ref"),
        companion_id=body.get("companion_id"),
        notes=body.get("notes"),
        location=_location(body.get("location")),
        idempotency_key=key,
        request_fingerprint=request_fingerprint(),
        now=now(),
        max_minutes=current_app.config["MAX_VISIT_MINUTES"],
    )
    # The answer is the visit as written here: no reload of it and its practitioner after commit.
    commit_keeping_loaded(db.session)
    return result.visit


@blp.route("/visits", methods=["GET"])
@login_required()
@blp.arguments(VisitQueryArgsSchema, location="query")
@blp.response(200, VisitPageSchema)
def list_visits(args: dict[str, Any]) -> dict[str, Any]:
    """Visits in the caller's reach, newest first."""
    query = visit_service.visible_visits(current_user())
    if "status" in args:
        query = query.where(Visit.status == args["status"])
    if "practitioner_id" in args:
        query = query.where(Visit.practitioner_id == args["practitioner_id"])
    query = query.order_by(Visit.checked_in_at.desc(), Visit.id.desc())
    return paginate(query, page=args["page"], per_page=args["per_page"])


@blp.route("/visits/<id:visit_id>", methods=["GET"])
@login_required()
@blp.response(200, VisitDetailSchema)
def get_visit(visit_id: int) -> Any:
    return visit_detail(visit_service.get_visit(current_user(), visit_id))


@blp.route("/visits/<id:visit_id>/extend", methods=["POST"])
@login_required(Role.PRACTITIONER)
@blp.arguments(VisitExtendSchema)
@blp.response(200, VisitSchema)
def extend(body: dict[str, Any], visit_id: int) -> Any:
    """Push the due time back; an overdue visit is extended from now and its alarm stands down.

    422 on `minutes` past one extension's limit or past the longest a visit may last from check-in
    (SAFETYCHECK_MAX_VISIT_TOTAL_MINUTES), saying how many minutes are left.
    """
    visit = visit_service.extend(
        current_user(),
        visit_id,
        minutes=body["minutes"],
        now=now(),
        max_minutes=current_app.config["MAX_EXTEND_MINUTES"],
        max_total_minutes=current_app.config["MAX_VISIT_TOTAL_MINUTES"],
    )
    db.session.commit()
    return visit


@blp.route("/visits/<id:visit_id>/checkout", methods=["POST"])
@login_required(Role.PRACTITIONER)
@blp.arguments(VisitCheckoutSchema)
@blp.response(200, VisitSchema)
def checkout(body: dict[str, Any], visit_id: int) -> Any:
    """Check out. With the duress PIN the answer is identical and a silent alarm is raised."""
    result = visit_service.check_out(
        current_user(), visit_id, pin=body.get("pin"), outcome=body.get("outcome"), now=now()
    )
    commit_keeping_loaded(db.session)  # as for check-in: answer without reloading
    return result.visit


@blp.route("/visits/<id:visit_id>/location", methods=["POST"])
@login_required(Role.PRACTITIONER)
@blp.arguments(LocationSchema)
@blp.response(204)
def post_location(body: dict[str, Any], visit_id: int) -> None:
    """Share the latest position during a visit (kept only while the visit is current)."""
    visit_service.record_location(current_user(), visit_id, location=_location(body), now=now())  # type: ignore[arg-type]
    db.session.commit()
