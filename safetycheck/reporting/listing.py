"""One page of the register for a table: the rows, the total, and the names the rows point to.

The filters and the order are the register's own (`register.register_query`), so the page, the
API and the CSV export always agree on which incidents a filter means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.extensions import db
from safetycheck.households.models import Household
from safetycheck.incidents import reach
from safetycheck.incidents.models import Incident
from safetycheck.reporting import register


@dataclass(frozen=True)
class RegisterPage:
    items: list[Incident]
    total: int
    page: int
    per_page: int
    team_names: dict[int, str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def register_page(user: User, filters: Mapping[str, Any], *, page: int, per_page: int) -> RegisterPage:
    """The filtered, sorted register in the user's reach, one page of it."""
    query = register.register_query(user, filters)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    team_ids = {i.team_id for i in items if i.team_id is not None}
    names = dict(db.session.execute(sa.select(Team.id, Team.name).where(Team.id.in_(team_ids))).all())
    return RegisterPage(items=items, total=total, page=page, per_page=per_page, team_names=names)


def teams_in_reach(user: User) -> list[Team]:
    """The teams whose incidents the user may see: a manager's own, everyone's for leads and admins."""
    query = sa.select(Team).order_by(Team.name)
    if user.role == Role.MANAGER:
        query = query.where(Team.id == user.team_id)
    elif user.role not in (Role.HS_LEAD, Role.ADMIN):
        return []
    return list(db.session.scalars(query))


def household_address(user: User, household_id: int) -> str | None:
    """The address a household filter stands for, if an incident in the user's reach was there."""
    return db.session.scalar(
        sa.select(Household.display_address)
        .join(Incident, Incident.household_id == Household.id)
        .where(Household.id == household_id, reach.reach_clause(user))
        .limit(1)
    )
