"""/register/incidents/<id>: one incident, its timeline and tracks, and the procedure's buttons.

Each step is a plain form post to its own URL, calling the same service as the API's endpoint
(`procedure`, `workflow`, `actions`, `markers`), with the incident locked and in reach (another
team's incident is the 404 page). A step the service refuses re-renders the page with the form's
error and the service's status (409, 403, 422); nothing it did is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import DomainError, ValidationFailed
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households import matching as households
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents import actions as action_service
from safetycheck.incidents import marker_proposals, procedure, reach, riddor_track, support, workflow
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import ActionStatus, Harm, IncidentStatus, InvestigationLevel
from safetycheck.incidents.models import Incident
from safetycheck.localtime import start_of_local_day
from safetycheck.web.auth import current_web_user, now, web_login_required
from safetycheck.web.forms import ActionForm, apply_domain_error
from safetycheck.web.incident import view
from safetycheck.web.incident.forms import (
    LEVEL_HINTS,
    FeedbackForm,
    MarkerProposalForm,
    MoveForm,
    NewActionForm,
    NoteForm,
    QuestionForm,
    ReopenForm,
    RiddorSubmitForm,
    SupportStepForm,
    TriageForm,
)

bp = Blueprint("incident", __name__)

staff_only = web_login_required(Role.MANAGER, Role.HS_LEAD, Role.ADMIN)


def _me() -> User:
    user = current_web_user()
    assert user is not None  # staff_only ran first
    return user


def _blank_forms(incident: Incident) -> dict[str, FlaskForm]:
    """Every step's form, empty (formdata=None: a failed post fills only its own form)."""
    new_action = NewActionForm(formdata=None)
    new_action.set_owners(view.action_owner_choices(incident))
    return {
        "acknowledge": NoteForm(formdata=None),
        "triage": TriageForm(formdata=None),
        "move": MoveForm(formdata=None),
        "ask": QuestionForm(formdata=None),
        "feedback": FeedbackForm(formdata=None),
        "reopen": ReopenForm(formdata=None),
        "action": new_action,
        "marker": MarkerProposalForm(formdata=None),
        "done": ActionForm(formdata=None),
        "support": SupportStepForm(formdata=None),
        "riddor": RiddorSubmitForm(formdata=None),
    }


def _page(incident_id: int, *, failed: tuple[str, FlaskForm] | None = None, status: int = 200) -> Any:
    user, moment = _me(), now()
    incident = reach.get_incident(user, incident_id)
    forms = _blank_forms(incident)
    if failed:
        forms[failed[0]] = failed[1]
    entries = incident_service.timeline_for(user, incident)
    actions = action_service.actions_for(incident.id)
    names = view.names_of(
        view.timeline_people(entries)
        | {a.owner_id for a in actions}
        | {incident.acknowledged_by, incident.triaged_by, incident.feedback_by}
    )
    markers = []
    for marker_id in marker_service.markers_for_incident(incident.id):
        try:
            markers.append(marker_service.get_marker(user, marker_id))
        except DomainError:
            continue  # another team's marker resting on this incident: not this person's to see
    html = render_template(
        "incident/incident.html",
        title=f"Incident {incident.id}",
        incident=incident,
        form=failed[1] if failed else None,
        forms=forms,
        failed=failed[0] if failed else None,
        steps=view.steps_for(user, incident),
        view=view,
        now=moment,
        team=account_service.get_team(incident.team_id) if incident.team_id else None,
        household=households.get_household(incident.household_id) if incident.household_id else None,
        timeline=view.timeline_lines(entries, names),
        names=names,
        riddor=riddor_track.view(incident.riddor, now=moment) if incident.riddor else None,
        support=support.view(incident.support) if incident.support else None,
        support_pending=support.pending(incident.support) if incident.support else [],
        actions=actions,
        markers=markers,
        may_complete=lambda action: view.may_complete(user, incident, action),
        level_hints=LEVEL_HINTS,
        step_late=bool(incident.step_due_at and incident.step_due_at < moment),
    )
    return html, status


@bp.route("/<id:incident_id>")
@staff_only
def incident(incident_id: int) -> Any:
    return _page(incident_id)


def _step(
    incident_id: int,
    name: str,
    form: FlaskForm,
    act: Callable[[User, Incident], object],
    done: str,
    fields: dict[str, str] | None = None,
) -> Any:
    """Read the form, run one service on the locked incident, commit, and go back to the page."""
    user = _me()
    incident = reach.get_incident(user, incident_id, for_update=True)  # NotFound: the 404 page
    if form.validate_on_submit():
        try:
            act(user, incident)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_refusal(form, error, fields)
            return _page(incident_id, failed=(name, form), status=error.http_status)
        flash(done, "success")
        return redirect(url_for(".incident", incident_id=incident_id) + f"#{_anchor(name)}")
    db.session.rollback()
    return _page(incident_id, failed=(name, form), status=422)


def show_refusal(form: FlaskForm, error: DomainError, fields: dict[str, str] | None = None) -> None:
    """The service's refusal on the form. Messages for the form's own fields go on those fields;
    a refused step (409, 403) also says why in a sentence, as do errors about state the form has
    no field for (`status`, `actions`), whose raw texts would mean nothing to the reader."""
    rename = dict(fields or {})
    own = {
        key: texts
        for key, texts in error.errors.items()
        if rename.get(key, key) in form._fields and rename.get(key, key) != "csrf_token"
    }
    if own:
        apply_domain_error(form, DomainError(error.message, own), rename)
    if not own or not isinstance(error, ValidationFailed):
        form.form_errors.append(error.message)


def _anchor(name: str) -> str:
    return {"action": "actions", "done": "actions", "support": "support", "riddor": "riddor"}.get(name, "top")


@bp.route("/<id:incident_id>/acknowledge", methods=["POST"])
@staff_only
def acknowledge(incident_id: int) -> Any:
    form = NoteForm()
    return _step(
        incident_id,
        "acknowledge",
        form,
        lambda user, incident: procedure.acknowledge(user, incident, note=form.note.data or None, now=now()),
        "The incident was acknowledged.",
    )


@bp.route("/<id:incident_id>/triage", methods=["POST"])
@staff_only
def triage(incident_id: int) -> Any:
    form = TriageForm()
    return _step(
        incident_id,
        "triage",
        form,
        lambda user, incident: procedure.triage(
            user,
            incident,
            harm=Harm(form.harm.data),
            consequence=int(form.consequence.data),
            likelihood=int(form.likelihood.data),
            investigation_level=InvestigationLevel(form.investigation_level.data),
            note=form.triage_note.data or None,
            now=now(),
        ),
        "The incident was triaged.",
        {"note": "triage_note"},
    )


@bp.route("/<id:incident_id>/transition", methods=["POST"])
@staff_only
def transition(incident_id: int) -> Any:
    form = MoveForm()

    def move(user: User, incident: Incident) -> None:
        to = form.to.data or ""
        if to not in workflow.TRANSITION_TARGETS:
            raise ValidationFailed("Unknown step.", {"to": [f"{to!r} is not a step the incident can take."]})
        workflow.transition(
            user, incident, to=IncidentStatus(to), note=form.move_note.data or None, now=now()
        )

    target = view.status_label(form.to.data) if form.to.data in set(IncidentStatus) else ""
    return _step(
        incident_id,
        "move",
        form,
        move,
        "The incident was closed." if form.to.data == "closed" else f"The incident is now: {target}.",
        {"note": "move_note"},
    )


@bp.route("/<id:incident_id>/request-information", methods=["POST"])
@staff_only
def request_information(incident_id: int) -> Any:
    form = QuestionForm()
    return _step(
        incident_id,
        "ask",
        form,
        lambda user, incident: procedure.request_information(
            user, incident, question=(form.question.data or "").strip(), now=now()
        ),
        "The question was sent: the reporter is texted to answer it in SafetyCheck.",
    )


@bp.route("/<id:incident_id>/feedback", methods=["POST"])
@staff_only
def feedback(incident_id: int) -> Any:
    form = FeedbackForm()
    return _step(
        incident_id,
        "feedback",
        form,
        lambda user, incident: procedure.give_feedback(
            user, incident, message=form.message.data or "", now=now()
        ),
        "The feedback was recorded.",
    )


@bp.route("/<id:incident_id>/reopen", methods=["POST"])
@staff_only
def reopen(incident_id: int) -> Any:
    form = ReopenForm()
    return _step(
        incident_id,
        "reopen",
        form,
        lambda user, incident: procedure.reopen(user, incident, reason=form.reason.data or "", now=now()),
        "The incident was reopened and is under investigation again.",
    )


@bp.route("/<id:incident_id>/actions", methods=["POST"])
@staff_only
def add_action(incident_id: int) -> Any:
    form = NewActionForm()
    user = _me()
    form.set_owners(view.action_owner_choices(reach.get_incident(user, incident_id)))
    return _step(
        incident_id,
        "action",
        form,
        lambda user, incident: action_service.add(
            user,
            incident,
            title=(form.title.data or "").strip(),
            owner_id=int(form.owner_id.data),
            # "Due by the end of" that day: its last minute in the service's time zone.
            due_at=start_of_local_day(form.due_on.data + timedelta(days=1)) - timedelta(minutes=1),
            now=now(),
        ),
        "The action was added.",
        {"due_at": "due_on"},
    )


@bp.route("/<id:incident_id>/actions/<id:action_id>/done", methods=["POST"])
@staff_only
def complete_action(incident_id: int, action_id: int) -> Any:
    form = ActionForm()
    return _step(
        incident_id,
        "done",
        form,
        lambda user, incident: action_service.update(
            user, incident, action_id, status=ActionStatus.DONE, now=now()
        ),
        "The action was marked done.",
    )


@bp.route("/<id:incident_id>/markers", methods=["POST"])
@staff_only
def propose_marker(incident_id: int) -> Any:
    form = MarkerProposalForm()
    return _step(
        incident_id,
        "marker",
        form,
        lambda user, incident: marker_proposals.propose(
            user,
            incident,
            reason=form.marker_reason.data or "",
            controls=[MarkerControl(c) for c in form.controls.data or []],
            now=now(),
        ),
        "The marker was proposed. It applies once a second person approves it on the Markers page.",
        {"reason": "marker_reason"},
    )


@bp.route("/<id:incident_id>/support", methods=["POST"])
@staff_only
def record_support(incident_id: int) -> Any:
    form = SupportStepForm()

    def record(user: User, incident: Incident) -> None:
        step = form.step.data or ""
        if step not in view.SUPPORT_BUTTONS:
            raise ValidationFailed("Unknown support step.", {"step": [f"{step!r} is not a support step."]})
        support.update(user, incident, {step: True}, now=now())

    return _step(incident_id, "support", form, record, "The support step was recorded.")


@bp.route("/<id:incident_id>/riddor/submission", methods=["POST"])
@staff_only
def submit_riddor(incident_id: int) -> Any:
    form = RiddorSubmitForm()
    return _step(
        incident_id,
        "riddor",
        form,
        lambda user, incident: procedure.submit_riddor(
            user, incident, hse_reference=(form.hse_reference.data or "").strip(), now=now()
        ),
        "The report to HSE was recorded.",
    )
