"""/admin/rota: rotations and their order, layers, overrides, and the coming week (admins only).

Its views join the admin blueprint (as `web/app/queue.py` joins the app's): check the role, parse
the form, call one rota service, commit, redirect with a flashed message or re-render the errors.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from safetycheck import localtime
from safetycheck.accounts import people, rota, rota_service
from safetycheck.accounts.rota_models import ShiftUnit
from safetycheck.errors import DomainError
from safetycheck.extensions import db
from safetycheck.web.admin.rota_forms import (
    DAY_LABELS,
    LayerForm,
    MemberForm,
    OverrideForm,
    RotationForm,
    clock,
    team_choices,
)
from safetycheck.web.admin.routes import _me, _render, _team_choices, admin_only, bp
from safetycheck.web.auth import now
from safetycheck.web.forms import ActionForm, apply_domain_error


def _local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, clock(hhmm), tzinfo=localtime.local_zone()).astimezone(UTC)


def _layer_choices() -> list[tuple[int, str]]:
    return [(layer.id, f"{layer.name} (priority {layer.priority})") for layer in rota_service.list_layers()]


def _people_choices() -> list[SelectChoice]:
    return [SelectChoice("", "Select a person")] + [
        SelectChoice(str(u.id), u.name) for u in people.list_people() if u.active
    ]


@bp.route("/rota")
@admin_only
def rota_index() -> Any:
    moment = now()
    teams = people.list_teams()
    weeks = [(team.name, rota.week_ahead(moment, team_id=team.id)) for team in teams]
    if not teams:
        weeks.append(("All teams", rota.week_ahead(moment, team_id=None)))
    return _render(
        "admin/rota.html",
        title="On-call rota",
        rotations=rota_service.list_rotations(),
        layers=rota_service.list_layers(),
        overrides=rota_service.list_overrides(ending_after=moment),
        weeks=weeks,
        flagged=[u for u in people.list_people() if u.on_call and u.active],
        teams={t.id: t.name for t in teams},
        day_labels=DAY_LABELS,
    )


@bp.route("/rota/rotations/new", methods=["GET", "POST"])
@admin_only
def rota_new_rotation() -> Any:
    form = RotationForm()
    form.set_choices(_team_choices(), _layer_choices())
    if not form.is_submitted():
        form.shift_unit.data = ShiftUnit.DAYS.value
        form.shift_length.data = 1
        form.handover_time.data = "09:00"
    if form.validate_on_submit():
        try:
            made = rota_service.create_rotation(
                name=form.name.data or "",
                team_id=form.team_id.data,
                layer_id=form.layer_id.data,
                handover_time=clock(form.handover_time.data or ""),
                shift_length=form.shift_length.data or 0,
                shift_unit=ShiftUnit(form.shift_unit.data),
                starts_on=form.first_day(),
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
        else:
            flash(f"Rotation {made.name} was added. Now add its people in order.", "success")
            return redirect(url_for(".rota_rotation", rotation_id=made.id))
    return _render(
        "admin/rota_rotation_new.html", 422 if form.errors else 200, title="Add a rotation", form=form
    )


@bp.route("/rota/rotations/<id:rotation_id>", methods=["GET", "POST"])
@admin_only
def rota_rotation(rotation_id: int) -> Any:
    rotation = rota_service.get_rotation(rotation_id)
    form = MemberForm()
    form.user_id.choices = _people_choices()
    if form.validate_on_submit():
        try:
            rota_service.add_member(rotation.id, form.user_id.data or 0)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error, {"user_ids": "user_id"})
        else:
            flash("They were added at the end of the order.", "success")
            return redirect(url_for(".rota_rotation", rotation_id=rotation.id))
        rotation = rota_service.get_rotation(rotation_id)
    moment = now()
    tz = localtime.local_zone()
    index = rota.shift_index(rotation, moment, tz)
    members = [m for m in rotation.members if m.user.active]
    current = members[index % len(members)].user_id if members and index is not None else None
    return _render(
        "admin/rota_rotation.html",
        422 if form.errors else 200,
        title=rotation.name,
        rotation=rotation,
        form=form,
        current_user_id=current,
        turn_ends_at=rota.shift_start(rotation, index + 1, tz) if index is not None else None,
        first_turn_at=rota.shift_start(rotation, 0, tz),
    )


def _act(rotation_id: int, action: Any, done: str) -> Response:
    ActionForm()  # the CSRF token was checked before the view
    try:
        action()
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for(".rota_rotation", rotation_id=rotation_id))


@bp.route("/rota/rotations/<id:rotation_id>/members/<id:user_id>/up", methods=["POST"])
@admin_only
def rota_member_up(rotation_id: int, user_id: int) -> Response:
    return _act(rotation_id, lambda: rota_service.move_member(rotation_id, user_id, offset=-1), "Moved up.")


@bp.route("/rota/rotations/<id:rotation_id>/members/<id:user_id>/down", methods=["POST"])
@admin_only
def rota_member_down(rotation_id: int, user_id: int) -> Response:
    return _act(rotation_id, lambda: rota_service.move_member(rotation_id, user_id, offset=1), "Moved down.")


@bp.route("/rota/rotations/<id:rotation_id>/members/<id:user_id>/remove", methods=["POST"])
@admin_only
def rota_member_remove(rotation_id: int, user_id: int) -> Response:
    return _act(
        rotation_id, lambda: rota_service.remove_member(rotation_id, user_id), "Removed from the rotation."
    )


@bp.route("/rota/rotations/<id:rotation_id>/delete", methods=["POST"])
@admin_only
def rota_delete_rotation(rotation_id: int) -> Response:
    ActionForm()
    rotation = rota_service.get_rotation(rotation_id)
    name = rotation.name
    rota_service.delete_rotation(rotation.id)
    db.session.commit()
    flash(f"Rotation {name} was deleted.", "success")
    return redirect(url_for(".rota_index"))


@bp.route("/rota/overrides/new", methods=["GET", "POST"])
@admin_only
def rota_new_override() -> Any:
    form = OverrideForm()
    form.user_id.choices = _people_choices()
    form.team_id.choices = team_choices(_team_choices())
    if not form.is_submitted():
        form.starts_time.data, form.ends_time.data = "17:00", "09:00"
    if form.validate_on_submit():
        assert form.starts_on.data is not None
        assert form.ends_on.data is not None
        try:
            made = rota_service.create_override(
                user_id=form.user_id.data or 0,
                team_id=form.team_id.data,
                starts_at=_local(form.starts_on.data, form.starts_time.data or ""),
                ends_at=_local(form.ends_on.data, form.ends_time.data or ""),
                note=form.note.data,
                created_by_id=_me().id,
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error, {"ends_at": "ends_on", "starts_at": "starts_on"})
        else:
            flash(f"{made.user.name} covers from {localtime.short_time(made.starts_at)}.", "success")
            return redirect(url_for(".rota_index"))
    return _render(
        "admin/rota_override_new.html", 422 if form.errors else 200, title="Add an override", form=form
    )


@bp.route("/rota/overrides/<id:override_id>/delete", methods=["POST"])
@admin_only
def rota_delete_override(override_id: int) -> Response:
    ActionForm()
    rota_service.delete_override(override_id)
    db.session.commit()
    flash("The override was removed.", "success")
    return redirect(url_for(".rota_index"))


@bp.route("/rota/layers/new", methods=["GET", "POST"])
@admin_only
def rota_new_layer() -> Any:
    form = LayerForm()
    if not form.is_submitted():
        form.priority.data, form.window_from.data, form.window_until.data = 10, "17:00", "09:00"
        form.days.data = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    if form.validate_on_submit():
        try:
            layer = rota_service.create_layer(
                name=form.name.data or "",
                priority=form.priority.data or 0,
                windows=[
                    {"days": form.days.data, "from": form.window_from.data, "until": form.window_until.data}
                ],
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error)
        else:
            flash(f"Layer {layer.name} was added.", "success")
            return redirect(url_for(".rota_index"))
    return _render("admin/rota_layer_new.html", 422 if form.errors else 200, title="Add a layer", form=form)
