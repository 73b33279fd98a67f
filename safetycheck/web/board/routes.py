"""/board: the team's open alarms (Acknowledge, Resolve), then overdue, active and today's visits.

Managers and admins act; health-and-safety leads see the same board without buttons. The page
polls `/board/live` (a fragment) every few seconds; that poll does not count as activity, so a
board left unattended still signs out after the idle timeout. Acknowledge and Resolve are plain
form posts calling the same alarm services as the API, then redirect back with a banner.
"""

from __future__ import annotations

import hashlib
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import DomainError
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import board as board_service
from safetycheck.escalation.enums import AlarmOutcome, AlarmStatus
from safetycheck.extensions import db
from safetycheck.web.auth import current_web_user, now, passive, safe_next, web_login_required
from safetycheck.web.board.forms import OUTCOME_HINTS, OUTCOME_WORDS, ResolveForm
from safetycheck.web.filters import local_time
from safetycheck.web.forms import ActionForm, apply_domain_error

bp = Blueprint("board", __name__)

viewers = web_login_required(Role.MANAGER, Role.ADMIN, Role.HS_LEAD)
actors = web_login_required(Role.MANAGER, Role.ADMIN)
ACTING_ROLES = (Role.MANAGER, Role.ADMIN)


def _me() -> User:
    user = current_web_user()
    assert user is not None  # the decorator ran first
    return user


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])


def _may_act(user: User, alarm: Any) -> bool:
    return (
        user.role in ACTING_ROLES
        and alarm.status != AlarmStatus.RESOLVED
        and alarm_service.may_acknowledge(user, alarm)
    )


def board_title(board: board_service.Board) -> str:
    """ "(2) New alarms - Board" (an en dash) while nobody has taken charge, so another tab shows it."""
    waiting = board.unacknowledged
    if not waiting:
        return "Board"
    return f"({waiting}) New alarm{'s' if waiting != 1 else ''} \N{EN DASH} Board"


def _live_context() -> dict[str, Any]:
    user = _me()
    moment = now()
    board = board_service.board_for(user, now=moment, tz=_tz())
    return {
        "board": board,
        "moment": moment,
        "may_act": lambda alarm: _may_act(user, alarm),
        "read_only": user.role not in ACTING_ROLES,
        "title": board_title(board),
        "version": _version(board, moment),
        "outcome_words": OUTCOME_WORDS,
    }


def _version(board: board_service.Board, moment: Any) -> str:
    """A fingerprint of what the fragment shows (to the minute, for "time left"): the poll
    answers 204 when nothing changed, so the page is not re-drawn under the manager's cursor."""
    parts: list[object] = [moment.replace(second=0, microsecond=0).isoformat()]
    for card in board.alarms:
        a = card.alarm
        parts += [a.id, a.status, a.acknowledged_by, card.lat, card.lon, card.address]
        parts += [(t.user_id, t.status, t.texts, t.took_charge) for t in card.texted]
    for row in [*board.overdue, *board.active, *board.completed_today]:
        v = row.visit
        parts += [v.id, v.status, v.due_at.isoformat(), v.checked_out_at, v.address]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@bp.route("")
@viewers
def board() -> Any:
    cover = board_service.on_call_cover(_me(), now=now())
    return render_template("board/board.html", on_call_cover=cover, **_live_context())


@bp.route("/live")
@viewers
@passive
def live() -> Any:
    """The live part of the board, for the page's poll; 204 (htmx keeps the page) if unchanged."""
    context = _live_context()
    if request.args.get("version") == context["version"]:
        return Response(status=204)
    return render_template("board/_live.html", **context)


@bp.route("/alarms/<id:alarm_id>")
@viewers
def alarm(alarm_id: int) -> Any:
    user = _me()
    found = alarm_service.get_alarm(user, alarm_id)
    card = board_service.card(found)
    entries = alarm_service.timeline_of(found)
    sent = alarm_service.texts_of(found)
    called = board_service.calls_of(found)
    notified = {i for e in entries for i in (e.details or {}).get("notified", [])}
    notified |= {i for e in entries for i in (e.details or {}).get("called", [])}
    names = board_service.names_of(
        {e.actor_id for e in entries if e.actor_id}
        | {m.recipient_id for m in sent if m.recipient_id}
        | notified
    )
    return render_template(
        "board/alarm.html",
        title=f"Alarm {found.code}",
        card=card,
        entries=entries,
        sent=sent,
        called=called,
        call_names={c.call_id: c.name for c in called},
        call_outcome_words=board_service.CALL_OUTCOME_WORDS,
        names=names,
        may_act=_may_act(user, found),
        read_only=user.role not in ACTING_ROLES,
        outcome_words=OUTCOME_WORDS,
        back=_back(),
    )


@bp.route("/alarms/<id:alarm_id>/acknowledge", methods=["POST"])
@actors
def acknowledge(alarm_id: int) -> Any:
    """Take charge, as ACK by text does; a second person is told who already has it."""
    ActionForm()  # only the CSRF token, checked before the view
    user = _me()
    found = alarm_service.get_alarm(user, alarm_id)
    result = alarm_service.acknowledge(found, actor=user, now=now(), via="web")
    db.session.commit()
    alarm = result.alarm
    if result.first:
        flash(f"You took charge of alarm {alarm.code} for {alarm.practitioner.name}.", "success")
    elif alarm.status == AlarmStatus.RESOLVED:
        flash(f"Alarm {alarm.code} was already resolved.", "info")
    elif alarm.acknowledged_by == user.id:
        flash(f"You had already taken charge of alarm {alarm.code}.", "info")
    else:
        who = board_service.names_of({alarm.acknowledged_by} if alarm.acknowledged_by else set())
        flash(
            f"{who.get(alarm.acknowledged_by or 0, 'Someone')} already took charge of alarm {alarm.code} "
            f"at {local_time(alarm.acknowledged_at)}. You do not need to do anything.",
            "info",
        )
    return redirect(_back())


@bp.route("/alarms/<id:alarm_id>/resolve", methods=["GET", "POST"])
@actors
def resolve(alarm_id: int) -> Any:
    """Ask how the alarm ended, then close it with that outcome (the API's outcomes)."""
    user = _me()
    found = alarm_service.get_alarm(user, alarm_id)
    if found.status == AlarmStatus.RESOLVED:
        flash(f"Alarm {found.code} was already resolved.", "info")
        return redirect(url_for(".alarm", alarm_id=found.id))
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            closed = alarm_service.resolve(
                found,
                actor=user,
                now=now(),
                outcome=AlarmOutcome(form.outcome.data),
                notes=(form.notes.data or "").strip() or None,
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            apply_domain_error(form, error, {"status": "outcome"})
        else:
            words = OUTCOME_WORDS.get(closed.outcome or "", closed.outcome or "").lower()
            flash(f"You resolved alarm {closed.code} for {closed.practitioner.name}: {words}.", "success")
            return redirect(_back())
        found = alarm_service.get_alarm(user, alarm_id)
    return (
        render_template(
            "board/resolve.html",
            title=f"Resolve alarm {found.code}",
            card=board_service.card(found),
            form=form,
            hints=OUTCOME_HINTS,
            outcome_words=OUTCOME_WORDS,
            back=_back(),
        ),
        422 if form.errors else 200,
    )


def _back() -> str:
    """Where to go after an action: `next` if it is a page on this site, else the board."""
    return safe_next(request.args.get("next")) or url_for(".board")
