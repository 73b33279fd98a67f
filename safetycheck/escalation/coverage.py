"""Would this visit's overdue ladder reach anyone who can act? Checked at check-in, and daily.

An escalation sent to nobody means nobody comes. `recipients.resolve` then falls back to the
admins, but admins are rarely the people who can go and look, so the service says so early: at
check-in (a `no_cover` warning in the visit's answer, shown on the phone page) and to admins,
once per team and local day, by text.

Someone "can act" when the overdue ladder's groups name them (a manager of the practitioner's
team, or an on-call contact who is not the practitioner), they are active, their number is not
known to be undeliverable, and they are on duty when the ladder would text them: the on-call
side asks `accounts.rota.on_call_at` for the moment of the first step that texts on-call
contacts; managers count as always on duty (nothing records their availability).

The check is cheap on purpose, since it runs on every check-in: one query when a reachable
manager exists (the usual case), two otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from safetycheck import localtime
from safetycheck import wording as texts
from safetycheck.accounts import rota
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.escalation import outbox
from safetycheck.escalation.coverage_models import CoverAlert
from safetycheck.escalation.enums import AlarmKind, MessagePurpose, RecipientGroup
from safetycheck.escalation.policy import Policy
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.visits import events as visit_events

NO_COVER = "no_cover"  # the warning's code in a visit's `warnings`


def subscribe() -> None:
    visit_events.check_in_accepted.subscribe(warn_without_cover)


def first_steps(rules: Policy) -> dict[RecipientGroup, timedelta]:
    """For each group the overdue ladder texts (the practitioner aside), how long after due it first does."""
    firsts: dict[RecipientGroup, timedelta] = {}
    for step in rules.ladders[AlarmKind.OVERDUE].steps:
        for group in step.notify:
            if group is not RecipientGroup.PRACTITIONER:
                firsts.setdefault(group, timedelta(seconds=step.after))
    return firsts


def reachable_manager(team_id: int) -> sa.ColumnElement[bool]:
    """A manager of the team whom a text can reach (as `recipients.resolve` would text them)."""
    return sa.and_(
        User.team_id == team_id,
        User.role == Role.MANAGER,
        User.active,
        User.phone_undeliverable_at.is_(None),
    )


def reachable_on_call(at: datetime, *, team_id: int | None, practitioner_id: int | None) -> list[User]:
    """On-call contacts at `at` whom a text can reach, never the practitioner themselves."""
    return [
        user
        for user in rota.on_call_at(at, team_id=team_id)
        if user.active and user.phone_undeliverable_at is None and user.id != practitioner_id
    ]


def has_cover(*, team_id: int | None, practitioner_id: int, due_at: datetime, rules: Policy) -> bool:
    """Whether an overdue ladder for a visit due at `due_at` would text someone who can act."""
    firsts = first_steps(rules)
    if RecipientGroup.TEAM_MANAGERS in firsts and team_id is not None:
        found = db.session.scalar(sa.select(User.id).where(reachable_manager(team_id)).limit(1))
        if found is not None:
            return True
    if RecipientGroup.ON_CALL in firsts:
        at = due_at + firsts[RecipientGroup.ON_CALL]
        if reachable_on_call(at, team_id=team_id, practitioner_id=practitioner_id):
            return True
    return False


def warn_without_cover(accepted: visit_events.CheckInAccepted) -> None:
    """The check-in stands; a visit whose ladder reaches nobody carries a `no_cover` warning."""
    visit, now = accepted.visit, accepted.now
    rules: Policy = current_app.extensions["safetycheck.policy"]
    if has_cover(
        team_id=visit.team_id, practitioner_id=visit.practitioner_id, due_at=visit.due_at, rules=rules
    ):
        return
    # A new list, so that the JSON column is seen to change.
    visit.warnings = [*visit.warnings, {"code": NO_COVER, "message": texts.NO_COVER_WARNING}]
    timeline.record("visit", visit.id, NO_COVER, at=now, team_id=visit.team_id)
    if visit.team_id is not None:
        alert_admins(
            visit.team_id,
            reason=reason_for(visit.team_id, rules),
            now=now,
            source="check_in",
            visit_id=visit.id,
        )


@dataclass(frozen=True)
class ManagerCount:
    managers: int  # active managers of the team
    deliverable: int  # of them, with a number not known to be undeliverable


def manager_counts(team_ids: list[int] | None = None) -> dict[int, ManagerCount]:
    """Active managers per team, and how many of them can be texted (one query)."""
    deliverable = sa.func.sum(sa.case((User.phone_undeliverable_at.is_(None), 1), else_=0))
    query = (
        sa.select(User.team_id, sa.func.count(), deliverable)
        .where(User.role == Role.MANAGER, User.active, User.team_id.is_not(None))
        .group_by(User.team_id)
    )
    if team_ids is not None:
        query = query.where(User.team_id.in_(team_ids))
    return {
        int(team_id): ManagerCount(int(count), int(ok or 0))
        for team_id, count, ok in db.session.execute(query)
    }


def reason_for(team_id: int, rules: Policy, counts: dict[int, ManagerCount] | None = None) -> str:
    """What is missing, in words for admins."""
    counts = counts if counts is not None else manager_counts([team_id])
    count = counts.get(team_id, ManagerCount(0, 0))
    return texts.no_cover_reason(
        managers=count.managers,
        deliverable=count.deliverable,
        ladder_texts_managers=RecipientGroup.TEAM_MANAGERS in first_steps(rules),
    )


def alert_admins(
    team_id: int, *, reason: str, now: datetime, source: str, visit_id: int | None = None
) -> int:
    """Text every active admin that the team has no cover, once per team and local day.

    The unique (team, day) row decides who alerts: a second check-in, or a second sweeper at the
    same moment, finds it (or collides with it) and texts nobody. Returns the texts queued.
    """
    day = localtime.local_date(now)
    taken = sa.select(CoverAlert.id).where(CoverAlert.team_id == team_id, CoverAlert.day == day)
    if db.session.scalar(taken) is not None:
        return 0
    alert = CoverAlert(team_id=team_id, day=day, alerted_at=now, source=source, visit_id=visit_id)
    try:
        with db.session.begin_nested():
            db.session.add(alert)
            db.session.flush()
    except IntegrityError:
        return 0  # alerted concurrently: the unique key did its job
    team = db.session.get(Team, team_id)
    body = texts.no_cover_alert(team_name=team.name if team else f"{team_id}", reason=reason)
    admins = db.session.scalars(sa.select(User).where(User.role == Role.ADMIN, User.active).order_by(User.id))
    queued = 0
    for admin in admins:
        message = outbox.enqueue(
            dedupe_key=f"no_cover:team:{team_id}:day:{day.isoformat()}:user:{admin.id}",
            purpose=MessagePurpose.COVERAGE,
            recipient=admin,
            body=body,
            now=now,
        )
        queued += message is not None
    alert.admins_texted = queued
    db.session.flush()
    return queued
