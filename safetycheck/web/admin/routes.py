"""/admin: teams, people, undeliverable numbers and the escalation policy in force (admins only).

Each view: check the role (the decorator), read or parse the form, call one service, commit,
then redirect with a flashed message (post/redirect/get) or re-render with the errors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from safetycheck.accounts import people, rota, signin
from safetycheck.accounts import service as account_service
from safetycheck.accounts import sessions as session_service
from safetycheck.accounts.enums import Role
from safetycheck.errors import DomainError
from safetycheck.escalation import coverage_jobs
from safetycheck.extensions import db
from safetycheck.web.admin import policy as policy_view
from safetycheck.web.admin.forms import ROLE_HINTS, PhoneForm, TeamForm, UserCreateForm, UserEditForm
from safetycheck.web.auth import current_web_user, now, web_login_required
from safetycheck.web.forms import ActionForm, apply_domain_error

bp = Blueprint("admin", __name__)

admin_only = web_login_required(Role.ADMIN)


def _me() -> Any:
    user = current_web_user()
    assert user is not None  # admin_only ran first
    return user


def _region() -> str:
    return str(current_app.config["DEFAULT_PHONE_REGION"])


def _render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, role_hints=ROLE_HINTS, **context), status


def _team_choices() -> list[tuple[int, str]]:
    return [(team.id, team.name) for team in people.list_teams()]


@bp.route("")
@admin_only
def index() -> Any:
    everyone = people.list_people()
    moment = now()
    return _render(
        "admin/index.html",
        title="Admin",
        active_count=sum(1 for u in everyone if u.active),
        team_count=len(people.list_teams()),
        undeliverable_count=len(people.undeliverable_people()),
        locked_count=len(signin.locked_user_ids(everyone, now=moment)),
        on_call=rota.on_call_anywhere(moment),
        cover=coverage_jobs.latest_report(),
        cover_check_hour=coverage_jobs.DAILY_CHECK_HOUR,
    )


# --- people -----------------------------------------------------------------------------------


@bp.route("/users")
@admin_only
def users() -> Any:
    everyone = people.list_people()
    teams = {team.id: team.name for team in people.list_teams()}
    return _render(
        "admin/users.html",
        title="People",
        users=everyone,
        teams=teams,
        locked=signin.locked_user_ids(everyone, now=now()),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def new_user() -> Any:
    form = UserCreateForm()
    form.set_teams(_team_choices())
    if form.validate_on_submit():
        try:
            user = account_service.create_user(
                name=form.name.data or "",
                email=form.email.data or "",
                phone=form.phone.data or "",
                role=Role(form.role.data),
                team_id=form.team_id.data,
                password=form.password.data or "",
                on_call=bool(form.on_call.data),
                now=now(),
                phone_region=_region(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
        else:
            flash(f"{user.name} was added. Give them their email address and first password.", "success")
            return redirect(url_for(".user", user_id=user.id))
    return _render("admin/user_new.html", 422 if form.errors else 200, title="Add a person", form=form)


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@admin_only
def user(user_id: int) -> Any:
    person = account_service.get_user(user_id)
    form = UserEditForm(data=_person_data(person))
    form.set_teams(_team_choices())
    if form.validate_on_submit():
        try:
            people.update_user(
                person.id,
                acting_user_id=_me().id,
                name=form.name.data or "",
                phone=form.phone.data or "",
                role=Role(form.role.data),
                team_id=form.team_id.data,
                phone_region=_region(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error, {"user": "role"})
        else:
            flash(f"{person.name}'s details were saved.", "success")
            return redirect(url_for(".user", user_id=person.id))
        person = account_service.get_user(user_id)
    moment = now()
    return _render(
        "admin/user.html",
        422 if form.errors else 200,
        title=person.name,
        person=person,
        form=form,
        team=person.team,
        locked=signin.lock_for(person.email, now=moment),
        browser_sessions=session_service.live_session_count(person.id, now=moment),
        is_me=person.id == _me().id,
    )


def _person_data(person: Any) -> dict[str, Any]:
    return {"name": person.name, "phone": person.phone, "role": person.role.value, "team_id": person.team_id}


def _act(user_id: int, action: Any, done: str) -> Response:
    """Run one button's service call (the form is only its CSRF token) and go back to the person."""
    ActionForm()  # the CSRF token was checked before the view; nothing else to read
    person = account_service.get_user(user_id)
    try:
        action(person)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(done.format(name=person.name), "success")
    return redirect(url_for(".user", user_id=user_id))


@bp.route("/users/<id:user_id>/on-call", methods=["POST"])
@admin_only
def set_on_call(user_id: int) -> Response:
    on_call = not account_service.get_user(user_id).on_call
    return _act(
        user_id,
        lambda p: account_service.set_on_call(p.id, on_call=on_call),
        "{name} is now on call." if on_call else "{name} is no longer on call.",
    )


@bp.route("/users/<id:user_id>/sign-out", methods=["POST"])
@admin_only
def revoke_tokens(user_id: int) -> Response:
    return _act(
        user_id,
        lambda p: account_service.revoke_all_tokens(p.id, now=now()),
        "{name} was signed out on every phone and browser. They must sign in again.",
    )


@bp.route("/users/<id:user_id>/unlock", methods=["POST"])
@admin_only
def unlock(user_id: int) -> Response:
    return _act(user_id, lambda p: signin.unlock(p.id), "{name} can sign in again now.")


@bp.route("/users/<id:user_id>/deactivate", methods=["POST"])
@admin_only
def deactivate(user_id: int) -> Response:
    return _act(
        user_id,
        lambda p: people.deactivate_user(p.id, acting_user_id=_me().id, now=now()),
        "{name} was deactivated: they cannot sign in and are not texted.",
    )


@bp.route("/users/<id:user_id>/reactivate", methods=["POST"])
@admin_only
def reactivate(user_id: int) -> Response:
    return _act(user_id, lambda p: people.reactivate_user(p.id), "{name} was reactivated.")


# --- teams ------------------------------------------------------------------------------------


@bp.route("/teams", methods=["GET", "POST"])
@admin_only
def teams() -> Any:
    form = TeamForm()
    if form.validate_on_submit():
        try:
            team = account_service.create_team(name=form.name.data or "", now=now())
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
        else:
            flash(f"Team {team.name} was added.", "success")
            return redirect(url_for(".teams"))
    return _render(
        "admin/teams.html",
        422 if form.errors else 200,
        title="Teams",
        form=form,
        teams=people.list_teams(),
        sizes=people.team_sizes(),
    )


# --- undeliverable numbers --------------------------------------------------------------------


@bp.route("/numbers")
@admin_only
def numbers() -> Any:
    return _render("admin/numbers.html", title="Undeliverable numbers", flagged=_flagged_forms())


def _flagged_forms(failed: tuple[int, PhoneForm] | None = None) -> list[tuple[Any, PhoneForm]]:
    rows = []
    for person in people.undeliverable_people():
        if failed and failed[0] == person.id:
            form = failed[1]
        else:
            form = PhoneForm(formdata=None, data={"phone": person.phone}, prefix=f"u{person.id}")
        rows.append((person, form))
    return rows


@bp.route("/numbers/<id:user_id>", methods=["POST"])
@admin_only
def correct_number(user_id: int) -> Any:
    person = account_service.get_user(user_id)
    form = PhoneForm(prefix=f"u{person.id}")
    if form.validate_on_submit():
        try:
            account_service.set_phone(person.id, phone=form.phone.data or "", phone_region=_region())
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
        else:
            flash(f"{person.name}'s number was saved; their texts will be tried again.", "success")
            return redirect(url_for(".numbers"))
    return _render(
        "admin/numbers.html",
        422,
        title="Undeliverable numbers",
        flagged=_flagged_forms((person.id, form)),
        form=form,
    )


@bp.route("/numbers/<id:user_id>/clear", methods=["POST"])
@admin_only
def clear_number(user_id: int) -> Response:
    ActionForm()
    person = people.clear_undeliverable(user_id)
    db.session.commit()
    flash(f"{person.name}'s number will be tried again.", "success")
    return redirect(url_for(".numbers"))


# --- the escalation policy --------------------------------------------------------------------


@bp.route("/policy")
@admin_only
def policy() -> Any:
    rules = current_app.extensions["safetycheck.policy"]
    return _render(
        "admin/policy.html",
        title="Escalation policy",
        ladders=policy_view.describe(rules),
        reminder=policy_view.reminder_text(rules),
        path=current_app.config["ESCALATION_POLICY"],
        sweep_seconds=current_app.config["SWEEP_INTERVAL_SECONDS"],
    )
