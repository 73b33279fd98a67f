"""Turn a step's recipient groups into people, never into nobody."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from safetycheck.accounts import rota
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.escalation import in_transaction
from safetycheck.escalation.enums import RecipientGroup
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db


def resolve(alarm: Alarm, groups: frozenset[RecipientGroup], *, now: datetime) -> tuple[list[User], bool]:
    """People to text for these groups, and whether a fallback had to be used.

    An escalation sent to nobody means nobody comes. When the groups name no one who can be
    reached (no managers in the team, nobody on call, every number dead), the step goes to the
    on-call contacts and then to the admins instead, and the timeline says so. On-call is
    whoever the rota has on call for the alarm's team at `now`, the moment of the step.
    """
    # Read only when the step names on-call or needs the fallback: the rota costs three queries,
    # a fifth of deciding a step in a burst of overdue alarms that text the worker and managers.
    on_call: list[User] | None = None

    def on_call_now() -> list[User]:
        nonlocal on_call
        if on_call is None:
            on_call = rota.on_call_at(now, team_id=alarm.team_id)
        return on_call

    people: dict[int, User] = {}
    practitioner = alarm.practitioner
    if RecipientGroup.PRACTITIONER in groups:
        people[practitioner.id] = practitioner
    if RecipientGroup.TEAM_MANAGERS in groups and alarm.team_id is not None:
        for user in in_transaction.team_managers(alarm.team_id):
            people.setdefault(user.id, user)
    if RecipientGroup.ON_CALL in groups:
        for user in on_call_now():
            if user.id != practitioner.id:
                people.setdefault(user.id, user)
    wanted_others = groups - {RecipientGroup.PRACTITIONER}
    reachable_others = [u for u in people.values() if u.id != practitioner.id and _reachable(u)]
    if wanted_others and not reachable_others:
        fallback = [u for u in on_call_now() if u.id != practitioner.id and _reachable(u)]
        if not fallback:
            fallback = list(
                db.session.scalars(
                    sa.select(User).where(User.role == Role.ADMIN, User.active).order_by(User.id)
                )
            )
        for user in fallback:
            people.setdefault(user.id, user)
        return list(people.values()), True
    return list(people.values()), False


def _reachable(user: User) -> bool:
    return user.active and user.phone_undeliverable_at is None
