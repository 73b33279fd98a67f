"""Factories built on the real services, so test data obeys the same rules as real data."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.extensions import db
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory
from safetycheck.incidents.models import Incident
from safetycheck.visits import service as visit_service

PASSWORD = "correct horse battery"
_seq = itertools.count(1)
FACTORY_PHONES = range(400, 550)
_phones = itertools.cycle(FACTORY_PHONES)


def make_team(*, now: datetime, name: str | None = None) -> Team:
    team = account_service.create_team(name=name or f"Team {next(_seq)}", now=now)
    db.session.commit()
    return team


def free_phone() -> str:
    """A drama number no user has, from the block kept for factories: phones are unique, and
    tests type their own numbers outside it (+447700900123, …900777 as a stranger, …999 as ours)."""
    for _ in range(len(FACTORY_PHONES)):
        phone = f"+447700900{next(_phones):03d}"
        if db.session.scalar(sa.select(User.id).where(User.phone == phone)) is None:
            return phone
    raise RuntimeError("every factory phone number is taken")


def make_user(
    *,
    now: datetime,
    role: Role = Role.PRACTITIONER,
    team: Team | None = None,
    on_call: bool = False,
    duress_pin: str | None = None,
    name: str | None = None,
) -> User:
    n = next(_seq)
    user = account_service.create_user(
        name=name or f"{role.value.title()} {n}",
        email=f"user{n}@example.test",
        phone=free_phone(),
        role=role,
        team_id=team.id if team else None,
        password=PASSWORD,
        on_call=on_call,
        duress_pin=duress_pin,
        now=now,
    )
    db.session.commit()
    return user


def token_for(user: User, *, now: datetime) -> str:
    issued = account_service.authenticate(
        email=user.email, password=PASSWORD, device="test phone", now=now, ttl=timedelta(days=30)
    )
    db.session.commit()
    return issued.token


@dataclass
class Org:
    team: Team
    other_team: Team
    manager: User
    on_call: User
    practitioner: User
    colleague: User
    other_manager: User
    other_practitioner: User
    lead: User
    admin: User


def loaded(*objects: object) -> None:
    """Load every attribute so the objects stay readable after their session closes."""
    for obj in objects:
        db.session.refresh(obj)


def make_org(*, now: datetime) -> Org:
    team = make_team(now=now)
    other = make_team(now=now)
    org = Org(
        team=team,
        other_team=other,
        manager=make_user(now=now, role=Role.MANAGER, team=team, name="Morgan Manager"),
        on_call=make_user(now=now, role=Role.MANAGER, team=team, on_call=True, name="Olu OnCall"),
        practitioner=make_user(now=now, team=team, duress_pin="9911", name="Priya Practitioner"),
        colleague=make_user(now=now, team=team, name="Sam Colleague"),
        other_manager=make_user(now=now, role=Role.MANAGER, team=other),
        other_practitioner=make_user(now=now, team=other),
        lead=make_user(now=now, role=Role.HS_LEAD),
        admin=make_user(now=now, role=Role.ADMIN),
    )
    loaded(*vars(org).values())
    return org


def make_incident(
    reporter: User,
    *,
    occurred_at: datetime,
    category: IncidentCategory = IncidentCategory.VERBAL_ABUSE,
    near_miss: bool = False,
    harmed: bool = False,
    lag: timedelta = timedelta(hours=1),
    description: str = "Shouted at on the doorstep.",
    **details: object,
) -> Incident:
    """An incident reported through the service, `lag` after it happened (texts and all)."""
    incident = incident_service.report(
        db.session.get(User, reporter.id) or reporter,
        occurred_at=occurred_at,
        category=category,
        near_miss=near_miss,
        harmed=harmed,
        description=description,
        now=occurred_at + lag,
        **details,
    )
    db.session.commit()
    db.session.refresh(incident)
    return incident


def make_visits(
    practitioner: User, *, count: int, first: datetime, every: timedelta = timedelta(days=1)
) -> None:
    """`count` completed half-hour visits, one each `every` from `first` (the exposure for rates)."""
    worker = db.session.get(User, practitioner.id) or practitioner
    for n in range(count):
        start = first + n * every
        visit = visit_service.check_in(
            worker,
            address=f"{n + 1} Visit Road, Leeds LS3 1AA",
            now=start,
            max_minutes=720,
            duration_minutes=30,
        ).visit
        visit_service.check_out(worker, visit.id, now=start + timedelta(minutes=20))
    db.session.commit()
