"""Panic from the phone; the alarm board's list, acknowledge and resolve."""

from __future__ import annotations

from typing import Any

from safetycheck import limits
from safetycheck.accounts.enums import Role
from safetycheck.api.alarms.schemas import (
    AlarmCreateSchema,
    AlarmDetailSchema,
    AlarmPageSchema,
    AlarmQueryArgsSchema,
    AlarmResolveSchema,
    AlarmSchema,
)
from safetycheck.api.auth import current_user, login_required, now
from safetycheck.api.common import Blueprint, paginate
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import panic
from safetycheck.escalation.enums import AlarmOutcome
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db

blp = Blueprint("alarms", __name__, description="Panic, overdue and duress alarms")


@blp.route("/alarms", methods=["POST"])
@login_required(Role.PRACTITIONER)
@blp.arguments(AlarmCreateSchema)
@blp.response(201, AlarmSchema)
def raise_panic(body: dict[str, Any]) -> Any:
    """Press panic: team managers and on-call are texted at the next sweep, never the worker.

    Never refused for being pressed too often: past its limit a press joins the latest panic
    alarm someone has taken charge of instead of starting a fresh ladder of texts.
    """
    location = body.get("location")
    alarm = panic.raise_panic(
        current_user(),
        now=now(),
        visit_id=body.get("visit_id"),
        message=body.get("message"),
        location=alarm_service.Location(location["lat"], location["lon"], location.get("accuracy_m"))
        if location
        else None,
        may_start_ladder=limits.panic_ladder_allowed,
    )
    db.session.commit()
    return alarm


@blp.route("/alarms", methods=["GET"])
@login_required(Role.MANAGER, Role.HS_LEAD, Role.ADMIN)
@blp.arguments(AlarmQueryArgsSchema, location="query")
@blp.response(200, AlarmPageSchema)
def list_alarms(args: dict[str, Any]) -> dict[str, Any]:
    """Alarms in reach, open ones first, newest first."""
    query = alarm_service.visible_alarms(current_user())
    for name in ("status", "kind", "visit_id"):
        if name in args:
            query = query.where(getattr(Alarm, name) == args[name])
    query = query.order_by((Alarm.status == "open").desc(), Alarm.raised_at.desc(), Alarm.id.desc())
    return paginate(query, page=args["page"], per_page=args["per_page"])


@blp.route("/alarms/<id:alarm_id>", methods=["GET"])
@login_required(Role.MANAGER, Role.HS_LEAD, Role.ADMIN)
@blp.response(200, AlarmDetailSchema)
def get_alarm(alarm_id: int) -> Any:
    """An alarm with its timeline and the texts sent for it (who, when, delivered or not)."""
    alarm = alarm_service.get_alarm(current_user(), alarm_id)
    return alarm_service.AlarmDetail(alarm, alarm_service.timeline_of(alarm), alarm_service.texts_of(alarm))


@blp.route("/alarms/<id:alarm_id>/acknowledge", methods=["POST"])
@login_required(Role.MANAGER, Role.ADMIN)
@blp.response(200, AlarmSchema)
def acknowledge(alarm_id: int) -> Any:
    """Take charge. The first acknowledgement wins; later ones get the alarm showing who has it."""
    alarm = alarm_service.get_alarm(current_user(), alarm_id)
    result = alarm_service.acknowledge(alarm, actor=current_user(), now=now(), via="api")
    db.session.commit()
    return result.alarm


@blp.route("/alarms/<id:alarm_id>/resolve", methods=["POST"])
@login_required(Role.MANAGER, Role.ADMIN)
@blp.arguments(AlarmResolveSchema)
@blp.response(200, AlarmSchema)
def resolve(body: dict[str, Any], alarm_id: int) -> Any:
    """Close the alarm with its outcome; `incident` opens a draft incident report for the worker."""
    alarm = alarm_service.get_alarm(current_user(), alarm_id)
    alarm = alarm_service.resolve(
        alarm, actor=current_user(), now=now(), outcome=AlarmOutcome(body["outcome"]), notes=body.get("notes")
    )
    db.session.commit()
    return alarm
