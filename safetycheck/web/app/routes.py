"""The practitioner's phone page: plain form posts first, each calling the same services as the API.

The page's script (static/js/app.js) adds the countdown, the press-and-hold Panic, location and
the offline queue, which sends through `queue.py`. Check-out answers exactly the same, in the
same words and the same time, with or without the duress PIN.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from wtforms import SelectChoice

from safetycheck import limits
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, DomainError
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import panic, phone
from safetycheck.extensions import db
from safetycheck.households import checkin_guard
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory, NearMissKind
from safetycheck.visits import service as visit_service
from safetycheck.visits.events import CheckInRequest
from safetycheck.visits.models import Visit
from safetycheck.web.app.forms import (
    NO_COMPANION,
    CheckInForm,
    CheckOutForm,
    ExtendForm,
    NearMissForm,
    PanicForm,
    ReportForm,
)
from safetycheck.web.auth import current_web_user, now, web_login_required
from safetycheck.web.filters import local_time
from safetycheck.web.forms import apply_domain_error

bp = Blueprint("app", __name__)

CHECKED_OUT = "You have checked out. Stay safe."
# Every check-out answers after at least this long, so that the few milliseconds the duress
# alarm's writes take cannot be told apart from a normal check-out by its timing.
CHECKOUT_FLOOR_SECONDS = 0.25
CHECK_IN_FIELDS = {"duration_minutes": "minutes", "companion_id": "companion", "location": "share_location"}
CONTROL_WORDS = {
    MarkerControl.JOINT_VISIT: "Joint visits only",
    MarkerControl.OFFICE_ONLY: "Office visits only",
    MarkerControl.WRITTEN_AGREEMENT: "Written agreement in place",
}


def practitioner() -> User:
    user = current_web_user()
    assert user is not None  # web_login_required ran
    return user


# --- the page ----------------------------------------------------------------------------------


@bp.route("")
@web_login_required(Role.PRACTITIONER)
def home() -> Any:
    user = practitioner()
    visit = visit_service.current_visit(user.id)
    if visit is None:
        return _check_in_page(user, _check_in_form(user))
    return _visit_page(user, visit)


def _check_in_form(user: User) -> CheckInForm:
    form = CheckInForm()
    colleagues = phone.companions(user)
    form.companion.choices = [SelectChoice(NO_COMPANION, "Nobody, I am on my own")] + [
        SelectChoice(str(c.id), c.name) for c in colleagues
    ]
    return form


def _common(user: User) -> dict[str, Any]:
    """What every state of the page shows: the panic state, the SMS fallback, the server's time."""
    return {
        "title": "My visit",
        "panic_state": phone.open_panic(user),
        "sms_number": current_app.config.get("TWILIO_FROM_NUMBER") or None,
        "server_now": now().isoformat(),
        "panic_form": PanicForm(),
    }


def _check_in_page(user: User, form: CheckInForm, status: int = 200) -> Any:
    context = _common(user) | {"form": form, "recent": phone.recent_addresses(user)}
    return render_template("app/check_in.html", **context), status


def _visit_page(
    user: User,
    visit: Visit,
    *,
    extend_form: ExtendForm | None = None,
    checkout_form: CheckOutForm | None = None,
    status: int = 200,
) -> Any:
    reminder = phone.latest_reminder(visit)
    extend_form = extend_form or ExtendForm()
    checkout_form = checkout_form or CheckOutForm()
    context = _common(user) | {
        "visit": visit,
        "reminder": reminder.body if reminder else None,
        "extend_form": extend_form,
        "checkout_form": checkout_form,
        "form": extend_form if extend_form.errors else checkout_form,
        "has_pin": user.duress_pin_hash is not None,
        "location_shared": visit.last_lat is not None,
    }
    return render_template("app/visit.html", **context), status


# --- check in, in two steps when the household has warnings -------------------------------------


@bp.route("/check-in", methods=["POST"])
@web_login_required(Role.PRACTITIONER)
def check_in() -> Any:
    user = practitioner()
    form = _check_in_form(user)
    if not form.validate_on_submit():
        return _check_in_page(user, form, 422)
    companion_id = int(form.companion.data) if form.companion.data else None
    assessment = checkin_guard.assess(
        CheckInRequest(
            address=form.address.data or "", practitioner=user, companion_id=companion_id, now=now()
        )
    )
    if not form.confirmed.data and (assessment.warnings or assessment.refusal):
        return _confirm_page(user, form, assessment)
    try:
        visit_service.check_in(
            user,
            address=form.address.data or "",
            duration_minutes=form.minutes.data,
            expected_end=_expected_end(form.expected_end.data),
            case_ref=(form.case_ref.data or "").strip() or None,
            companion_id=companion_id,
            location=_location(form) if form.share_location.data else None,
            now=now(),
            max_minutes=current_app.config["MAX_VISIT_MINUTES"],
        )
        db.session.commit()
    except Conflict as error:
        db.session.rollback()
        if "address" in error.errors:  # a household restriction: say what to do instead
            return _confirm_page(user, form, assessment, status=409)
        apply_domain_error(form, error, CHECK_IN_FIELDS)
        return _check_in_page(user, form, 409)
    except DomainError as error:
        db.session.rollback()
        apply_domain_error(form, error, CHECK_IN_FIELDS)
        return _check_in_page(user, form, 422)
    flash("You are checked in. Check out when you leave.", "success")
    return redirect(url_for(".home"))


def _confirm_page(user: User, form: CheckInForm, assessment: Any, status: int = 200) -> Any:
    controls = {c for w in assessment.warnings for c in w["controls"]}
    form.confirmed.data = "yes"
    context = _common(user) | {
        "title": "Before you go in",
        "form": form,
        "warnings": [
            {"reason": w["reason"], "controls": [CONTROL_WORDS.get(c, c) for c in w["controls"]]}
            for w in assessment.warnings
        ],
        "refused": assessment.refusal is not None,
        "office_only": MarkerControl.OFFICE_ONLY in controls,
        "joint_visit": MarkerControl.JOINT_VISIT in controls,
    }
    return render_template("app/confirm.html", **context), status


def _expected_end(value: str | None) -> datetime | None:
    """HH:MM in the service's zone: today, or tomorrow when that time has passed today."""
    if not value:
        return None
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    local_now = now().astimezone(zone)
    hours, minutes = (int(part) for part in value.split(":"))
    end = local_now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if end <= local_now:
        end += timedelta(days=1)
    return end


def _location(form: Any) -> visit_service.Location | None:
    if form.lat.data is None or form.lon.data is None:
        return None
    return visit_service.Location(lat=form.lat.data, lon=form.lon.data, accuracy_m=form.accuracy_m.data)


# --- during the visit ------------------------------------------------------------------------------


@bp.route("/extend", methods=["POST"])
@web_login_required(Role.PRACTITIONER)
def extend() -> Any:
    user = practitioner()
    visit = visit_service.current_visit(user.id)
    if visit is None:
        flash("You are not checked in to a visit.", "info")
        return redirect(url_for(".home"))
    form = ExtendForm()
    minutes = form.chosen_minutes() if form.validate_on_submit() else None
    if minutes is None:
        if not form.errors:
            form.minutes.errors = ["Choose 15, 30 or 60 minutes, or enter a number of minutes"]
        return _visit_page(user, visit, extend_form=form, status=422)
    try:
        visit = visit_service.extend(
            user,
            visit.id,
            minutes=minutes,
            now=now(),
            max_minutes=current_app.config["MAX_EXTEND_MINUTES"],
            max_total_minutes=current_app.config["MAX_VISIT_TOTAL_MINUTES"],
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        apply_domain_error(form, error)
        return _visit_page(user, visit, extend_form=form, status=422)
    flash(f"Extended by {minutes} minutes: you are due back at {local_time(visit.due_at)}.", "success")
    return redirect(url_for(".home"))


@bp.route("/check-out", methods=["POST"])
@web_login_required(Role.PRACTITIONER)
def check_out() -> Any:
    started = time.perf_counter()
    user = practitioner()
    form = CheckOutForm()
    visit = visit_service.current_visit(user.id)
    if visit is not None and form.validate_on_submit():
        visit_service.check_out(user, visit.id, pin=form.pin.data or None, now=now())
        db.session.commit()
    elif visit is not None:
        return _visit_page(user, visit, checkout_form=form, status=422)
    # The same words whatever the PIN, and whether the visit had already ended (by a text).
    flash(CHECKED_OUT, "success")
    wait_out(started)
    return redirect(url_for(".home"))


def wait_out(started: float) -> None:
    """Answer no sooner than CHECKOUT_FLOOR_SECONDS after the check-out began."""
    left = CHECKOUT_FLOOR_SECONDS - (time.perf_counter() - started)
    if left > 0:
        time.sleep(left)


@bp.route("/panic", methods=["POST"])
@web_login_required(Role.PRACTITIONER)
def raise_panic() -> Any:
    """Without the page's script, Panic asks for a second, deliberate press: never one tap."""
    user = practitioner()
    form = PanicForm()
    if not form.validate_on_submit() or not form.confirmed.data:
        return render_template("app/panic_confirm.html", **_common(user))
    location = _location(form)
    panic.raise_panic(
        user,
        now=now(),
        location=alarm_service.Location(location.lat, location.lon, location.accuracy_m)
        if location
        else None,
        may_start_ladder=limits.panic_ladder_allowed,
    )
    db.session.commit()
    return redirect(url_for(".home"))


# --- the quick incident report --------------------------------------------------------------------


@bp.route("/report", methods=["GET", "POST"])
@web_login_required(Role.PRACTITIONER)
def report() -> Any:
    user = practitioner()
    form, near_miss = ReportForm(), NearMissForm(prefix="nm")
    visit = visit_service.current_visit(user.id)
    if form.validate_on_submit():
        try:
            incident_service.report(
                user,
                occurred_at=_occurred_at(form.occurred_at.data),
                category=IncidentCategory(form.category.data),
                description=form.description.data or "",
                near_miss=form.near_miss.data == "yes",
                harmed=form.harmed.data == "yes",
                visit_id=visit.id if visit else None,
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
        else:
            flash("Thank you: your report was sent to your managers.", "success")
            return redirect(url_for(".home"))
    context = _common(user) | {"title": "Report an incident", "form": form, "near_miss_form": near_miss}
    return render_template("app/report.html", **context), 422 if form.errors else 200


@bp.route("/near-miss", methods=["POST"])
@web_login_required(Role.PRACTITIONER)
def near_miss() -> Any:
    """One tap: did not go in, left early, or asked for a joint visit."""
    user = practitioner()
    form = NearMissForm(prefix="nm")
    if not form.validate_on_submit():
        return redirect(url_for(".report"))
    visit = visit_service.current_visit(user.id)
    incident_service.report_near_miss(
        user, kind=NearMissKind(form.kind.data), now=now(), visit_id=visit.id if visit else None
    )
    db.session.commit()
    flash("Thank you: your near miss was recorded.", "success")
    return redirect(url_for(".home"))


def _occurred_at(value: str | None) -> datetime:
    """HH:MM today in the service's zone (yesterday if that is later than now), or now."""
    moment = now()
    if not value:
        return moment
    local = moment.astimezone(ZoneInfo(current_app.config["DISPLAY_TIMEZONE"]))
    hours, minutes = (int(part) for part in value.split(":"))
    when = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return when - timedelta(days=1) if when > local else when
