"""/markers (managers, leads, admins): markers waiting for a second person, and reviews due.

A marker warns everyone who visits a family, so it needs two people: whoever proposed it can
never approve or reject it (`markers._require_decider`); the page says so instead of offering
the buttons, and a post that tries anyway gets the service's refusal as a form error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import DomainError
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households.enums import MarkerStatus
from safetycheck.households.models import Marker
from safetycheck.web.auth import current_web_user, now, web_login_required
from safetycheck.web.forms import apply_domain_error
from safetycheck.web.markers.forms import ApproveForm, RejectForm, for_marker

bp = Blueprint("markers", __name__)

managers_and_leads = web_login_required(Role.MANAGER, Role.HS_LEAD, Role.ADMIN)

CONTROL_WORDS = {
    "joint_visit": "Joint visits only",
    "office_only": "Office only",
    "written_agreement": "Written agreement",
}


@dataclass
class Proposal:
    """A proposed marker as the page shows it, with the two decision forms."""

    marker: Marker
    proposer: str
    evidence: list[int]
    mine: bool
    approve: FlaskForm
    reject: FlaskForm


def _me() -> User:
    user = current_web_user()
    assert user is not None  # the decorator ran first
    return user


def _proposals(user: User, failed: tuple[int, str, FlaskForm] | None) -> list[Proposal]:
    query = (
        marker_service.visible_markers(user)
        .where(Marker.status == MarkerStatus.PROPOSED)
        .order_by(Marker.proposed_at, Marker.id)
    )
    rows = []
    for marker in db.session.scalars(query):
        forms: dict[str, FlaskForm] = {
            "approve": ApproveForm(formdata=None),
            "reject": RejectForm(formdata=None),
        }
        if failed and failed[0] == marker.id:
            forms[failed[1]] = failed[2]
        rows.append(
            Proposal(
                marker=marker,
                proposer=account_service.get_user(marker.proposed_by).name,
                evidence=marker_service.evidence_ids(marker.id),
                mine=marker.proposed_by == user.id,
                approve=for_marker(forms["approve"], marker.id, "approve"),
                reject=for_marker(forms["reject"], marker.id, "reject"),
            )
        )
    return rows


def _page(*, failed: tuple[int, str, FlaskForm] | None = None, status: int = 200) -> Any:
    user, moment = _me(), now()
    due = list(
        db.session.scalars(
            marker_service.due_for_review(marker_service.visible_markers(user), now=moment).order_by(
                Marker.review_at, Marker.id
            )
        )
    )
    active = db.session.scalar(
        sa.select(sa.func.count()).select_from(
            marker_service.visible_markers(user)
            .where(Marker.status == MarkerStatus.ACTIVE, Marker.review_at > moment)
            .subquery()
        )
    )
    html = render_template(
        "markers/markers.html",
        title="Markers",
        proposals=_proposals(user, failed),
        due=due,
        active_count=active or 0,
        now=moment,
        form=failed[2] if failed else None,
        control_words=CONTROL_WORDS,
        review_notice_days=marker_service.REVIEW_NOTICE.days,
    )
    return html, status


@bp.route("")
@managers_and_leads
def markers() -> Any:
    return _page()


def _decide(marker_id: int, verb: str, form: FlaskForm) -> Any:
    user = _me()
    marker = marker_service.get_marker(user, marker_id, for_update=True)  # NotFound: the 404 page
    for_marker(form, marker.id, verb)
    if form.validate_on_submit():
        try:
            if verb == "approve":
                marker_service.approve(user, marker, note=(form.note.data or "").strip() or None, now=now())
            else:
                marker_service.reject(user, marker, note=(form.note.data or "").strip(), now=now())
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
            return _page(failed=(marker_id, verb, form), status=error.http_status)
        address = marker.household.display_address
        if verb == "approve":
            flash(f"The marker on {address} is now in force: practitioners see it at check-in.", "success")
        else:
            flash(f"The marker on {address} was rejected; it stays on record.", "success")
        return redirect(url_for(".markers"))
    db.session.rollback()
    return _page(failed=(marker_id, verb, form), status=422)


@bp.route("/<id:marker_id>/approve", methods=["POST"])
@managers_and_leads
def approve(marker_id: int) -> Any:
    return _decide(marker_id, "approve", ApproveForm())


@bp.route("/<id:marker_id>/reject", methods=["POST"])
@managers_and_leads
def reject(marker_id: int) -> Any:
    return _decide(marker_id, "reject", RejectForm())
