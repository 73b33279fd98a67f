"""The post-incident procedure: one endpoint per step, plus the RIDDOR and support tracks and actions.

Every answer is the whole incident (as `GET /incidents/{id}`), so a client always sees the new
status, its target time and the timeline entry the step wrote.
"""

from __future__ import annotations

from typing import Any

from safetycheck.accounts.enums import Role
from safetycheck.api.auth import current_user, login_required, now
from safetycheck.api.common import Blueprint
from safetycheck.api.incidents.procedure_schemas import (
    ActionCreateSchema,
    ActionUpdateSchema,
    AnswerSchema,
    FeedbackSchema,
    MarkerProposalSchema,
    NoteSchema,
    QuestionSchema,
    ReopenSchema,
    RiddorScreenSchema,
    RiddorSubmitSchema,
    SupportUpdateSchema,
    TransitionSchema,
    TriageSchema,
)
from safetycheck.api.incidents.routes import incident_detail
from safetycheck.api.incidents.schemas import IncidentDetailSchema
from safetycheck.api.markers.routes import marker_detail
from safetycheck.api.markers.schemas import MarkerSchema
from safetycheck.extensions import db
from safetycheck.households.enums import MarkerControl
from safetycheck.households.markers import MarkerDetail
from safetycheck.incidents import actions as action_service
from safetycheck.incidents import marker_proposals, procedure, reach, support, workflow
from safetycheck.incidents.detail import IncidentDetail
from safetycheck.incidents.enums import IncidentStatus
from safetycheck.incidents.models import Incident

blp = Blueprint(
    "incident_procedure",
    __name__,
    description="The post-incident procedure: acknowledge, triage, investigate, review, close",
)

STAFF = (Role.MANAGER, Role.HS_LEAD, Role.ADMIN)


def _locked(incident_id: int) -> Incident:
    return reach.get_incident(current_user(), incident_id, for_update=True)


def _done(incident: Incident, status: int = 200) -> tuple[IncidentDetail, int]:
    db.session.commit()
    return incident_detail(incident, status)


@blp.route("/incidents/<id:incident_id>/acknowledge", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(NoteSchema)
@blp.response(200, IncidentDetailSchema)
def acknowledge(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """A manager has contacted the worker; stops a serious incident's alarm."""
    incident = _locked(incident_id)
    procedure.acknowledge(current_user(), incident, note=body.get("note"), now=now())
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/triage", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(TriageSchema)
@blp.response(200, IncidentDetailSchema)
def triage(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Harm, consequence x likelihood (risk 1-25), investigation level, RIDDOR screen, marker proposal."""
    incident = _locked(incident_id)
    procedure.triage(current_user(), incident, now=now(), **body)
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/transition", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(TransitionSchema)
@blp.response(200, IncidentDetailSchema)
def transition(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Move on: under_investigation, actions_open, hs_review, closed (lead; needs feedback)."""
    incident = _locked(incident_id)
    workflow.transition(
        current_user(), incident, to=IncidentStatus(body["to"]), note=body.get("note"), now=now()
    )
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/request-information", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(QuestionSchema)
@blp.response(200, IncidentDetailSchema)
def request_information(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Ask the reporter a question; the incident waits for them (information_required)."""
    incident = _locked(incident_id)
    procedure.request_information(current_user(), incident, question=body["question"], now=now())
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/provide-information", methods=["POST"])
@login_required()
@blp.arguments(AnswerSchema)
@blp.response(200, IncidentDetailSchema)
def provide_information(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """The reporter answers; the incident returns to the step it was at."""
    incident = _locked(incident_id)
    procedure.provide_information(current_user(), incident, answer=body["answer"], now=now())
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/feedback", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(FeedbackSchema)
@blp.response(200, IncidentDetailSchema)
def feedback(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Tell the reporter what was found and done (required before closing); they are texted."""
    incident = _locked(incident_id)
    procedure.give_feedback(current_user(), incident, message=body["message"], now=now())
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/reopen", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(ReopenSchema)
@blp.response(200, IncidentDetailSchema)
def reopen(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    incident = _locked(incident_id)
    procedure.reopen(current_user(), incident, reason=body["reason"], now=now())
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/riddor", methods=["PUT"])
@login_required(*STAFF)
@blp.arguments(RiddorScreenSchema)
@blp.response(200, IncidentDetailSchema)
def screen_riddor(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Record the RIDDOR screen (physical violence, specified injury, incapacity) and classify it."""
    incident = _locked(incident_id)
    procedure.screen_riddor(current_user(), incident, now=now(), **body)
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/riddor/submission", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(RiddorSubmitSchema)
@blp.response(200, IncidentDetailSchema)
def submit_riddor(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Record that the incident was reported to HSE, with HSE's reference."""
    incident = _locked(incident_id)
    procedure.submit_riddor(current_user(), incident, now=now(), **body)
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/support", methods=["PATCH"])
@login_required()
@blp.arguments(SupportUpdateSchema)
@blp.response(200, IncidentDetailSchema)
def update_support(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    """Managers record support given; the worker accepts or declines the debrief and follow-ups."""
    incident = _locked(incident_id)
    support.update(current_user(), incident, body, now=now())
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/actions", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(ActionCreateSchema)
@blp.response(201, IncidentDetailSchema)
def add_action(body: dict[str, Any], incident_id: int) -> tuple[IncidentDetail, int]:
    incident = _locked(incident_id)
    action_service.add(current_user(), incident, now=now(), **body)
    return _done(incident, 201)


@blp.route("/incidents/<id:incident_id>/actions/<id:action_id>", methods=["PATCH"])
@login_required()
@blp.arguments(ActionUpdateSchema)
@blp.response(200, IncidentDetailSchema)
def update_action(body: dict[str, Any], incident_id: int, action_id: int) -> tuple[IncidentDetail, int]:
    """Complete, cancel (with a note), move or hand over an action; its owner may complete it."""
    incident = _locked(incident_id)
    action_service.update(current_user(), incident, action_id, now=now(), **body)
    return _done(incident)


@blp.route("/incidents/<id:incident_id>/markers", methods=["POST"])
@login_required(*STAFF)
@blp.arguments(MarkerProposalSchema)
@blp.response(201, MarkerSchema)
def propose_marker(body: dict[str, Any], incident_id: int) -> tuple[MarkerDetail, int]:
    """Propose a household marker from this incident; a second person must approve it."""
    incident = _locked(incident_id)
    marker = marker_proposals.propose(
        current_user(),
        incident,
        reason=body["reason"],
        controls=[MarkerControl(c) for c in body["controls"]],
        review_at=body.get("review_at"),
        evidence_incident_ids=body["evidence_incident_ids"],
        now=now(),
    )
    db.session.commit()
    return marker_detail(marker, 201)
