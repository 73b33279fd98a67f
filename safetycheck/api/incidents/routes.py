"""Reporting incidents and reading the register: report, near miss, list, export, summary, detail."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, stream_with_context

from safetycheck import limits
from safetycheck.accounts.enums import Role
from safetycheck.api.auth import current_user, login_required, now
from safetycheck.api.common import Blueprint
from safetycheck.api.incidents.schemas import (
    ExportArgsSchema,
    IncidentConfirmSchema,
    IncidentCreateSchema,
    IncidentDetailSchema,
    IncidentPageSchema,
    IncidentQueryArgsSchema,
    IncidentUpdateSchema,
    NearMissCreateSchema,
    SummaryArgsSchema,
)
from safetycheck.extensions import db
from safetycheck.incidents import detail, reach
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.detail import IncidentDetail
from safetycheck.incidents.models import Incident
from safetycheck.reporting import figures, listing, register, summary

blp = Blueprint("incidents", __name__, description="Incident reports and the near-miss and violence register")

LEADS_AND_MANAGERS = (Role.MANAGER, Role.HS_LEAD, Role.ADMIN)
TOO_MANY_REPORTS = "Too many reports in a short time; wait a while, or phone your manager."


def incident_detail(incident: Incident, status: int = 200) -> tuple[IncidentDetail, int]:
    """An incident with its timeline, tracks, actions and markers, as the current user may see it;
    the view's IncidentDetailSchema serialises it."""
    return detail.incident_detail(current_user(), incident, now=now()), status


@blp.route("/incidents", methods=["POST"])
@login_required()
@blp.arguments(IncidentCreateSchema)
@blp.response(201, IncidentDetailSchema)
def report(body: dict[str, Any]) -> tuple[IncidentDetail, int]:
    """The 30-second report; the reporter's managers are texted at once (and on-call, if serious)."""
    limits.enforce("RATELIMIT_INCIDENTS_PER_USER", str(current_user().id), TOO_MANY_REPORTS)
    incident = incident_service.report(current_user(), now=now(), **body)
    db.session.commit()
    return incident_detail(incident, 201)


@blp.route("/incidents/near-miss", methods=["POST"])
@login_required()
@blp.arguments(NearMissCreateSchema)
@blp.response(201, IncidentDetailSchema)
def report_near_miss(body: dict[str, Any]) -> tuple[IncidentDetail, int]:
    """One tap: did_not_enter, left_early or asked_for_joint_visit; a good catch."""
    limits.enforce("RATELIMIT_INCIDENTS_PER_USER", str(current_user().id), TOO_MANY_REPORTS)
    incident = incident_service.report_near_miss(current_user(), now=now(), **body)
    db.session.commit()
    return incident_detail(incident, 201)


@blp.route("/incidents", methods=["GET"])
@login_required()
@blp.arguments(IncidentQueryArgsSchema, location="query")
@blp.response(200, IncidentPageSchema)
def list_incidents(args: dict[str, Any]) -> dict[str, Any]:
    """The register in the caller's reach: leads all, managers their team, practitioners their own."""
    result = listing.register_page(current_user(), args, page=args["page"], per_page=args["per_page"])
    return {
        "items": result.items,
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
        "total_is_estimate": result.total_is_estimate,
    }


@blp.route("/incidents/export.csv", methods=["GET"])
@login_required(*LEADS_AND_MANAGERS)
@blp.arguments(ExportArgsSchema, location="query")
@blp.response(200, content_type="text/csv", description="The filtered register as CSV, streamed")
def export_csv(args: dict[str, Any]) -> Response:
    """The filtered register as CSV; cells a spreadsheet would run as formulas are quoted."""
    stamp = now().strftime("%Y%m%d-%H%M")
    rows = register.export_rows(current_user(), args)
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="incidents-{stamp}.csv"'},
    )


@blp.route("/incidents/summary", methods=["GET"])
@login_required(*LEADS_AND_MANAGERS)
@blp.arguments(SummaryArgsSchema, location="query")
@blp.response(200)
def incident_summary(args: dict[str, Any]) -> Response:
    """Counts, rates per 1,000 visits, reporting-culture signals, deadlines and overdue steps."""
    moment = now()
    default = summary.default_period(moment)
    period = summary.Period(args.get("occurred_from") or default.start, args.get("occurred_to") or moment)
    user, team_id = current_user(), args.get("team_id")
    data = summary.summarise(
        user,
        period=period,
        now=moment,
        team_id=team_id,
        silent_min_visits=args["silent_min_visits"],
        figures=figures.gather(user, period=period, now=moment, team_id=team_id),
    )
    return jsonify(_isoformat(data))


@blp.route("/incidents/<id:incident_id>", methods=["GET"])
@login_required()
@blp.response(200, IncidentDetailSchema)
def get_incident(incident_id: int) -> tuple[IncidentDetail, int]:
    return incident_detail(reach.get_incident(current_user(), incident_id))


@blp.route("/incidents/<id:incident_id>", methods=["PATCH"])
@login_required()
@blp.arguments(IncidentUpdateSchema)
@blp.response(200, IncidentDetailSchema)
def update_incident(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Add or correct details (reporter or their managers); each change goes on the timeline."""
    incident = reach.get_incident(current_user(), incident_id, for_update=True)
    incident_service.update_details(current_user(), incident, body, now=now())
    db.session.commit()
    return incident_detail(incident)


@blp.route("/incidents/<id:incident_id>/confirm", methods=["POST"])
@login_required()
@blp.arguments(IncidentConfirmSchema)
@blp.response(200, IncidentDetailSchema)
def confirm(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Confirm a draft opened from an alarm, with a few lines: it enters the register."""
    incident = reach.get_incident(current_user(), incident_id, for_update=True)
    incident_service.confirm(current_user(), incident, now=now(), **body)
    db.session.commit()
    return incident_detail(incident)


def _isoformat(value: Any) -> Any:
    """Dates to ISO 8601 for jsonify, which would otherwise write them in HTTP date format."""
    if isinstance(value, dict):
        return {k: _isoformat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_isoformat(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
