"""One page of the register for a table: the rows, the total, and the names the rows point to.

The filters and the order are the register's own (`register.register_query`), so the page, the
API and the CSV export always agree on which incidents a filter means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.extensions import db
from safetycheck.households.models import Household
from safetycheck.incidents import reach
from safetycheck.incidents.models import Incident
from safetycheck.reporting import register

EXACT_TOTAL_UP_TO = 10_000  # default of REGISTER_EXACT_TOTAL_UP_TO


@dataclass(frozen=True)
class RegisterPage:
    items: list[Incident]
    total: int
    page: int
    per_page: int
    team_names: dict[int, str]
    total_is_estimate: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def register_page(user: User, filters: Mapping[str, Any], *, page: int, per_page: int) -> RegisterPage:
    """The filtered, sorted register in the user's reach, one page of it."""
    query = register.register_query(user, filters)
    total, estimate = register_total(query)
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    team_ids = {i.team_id for i in items if i.team_id is not None}
    names = dict(db.session.execute(sa.select(Team.id, Team.name).where(Team.id.in_(team_ids))).all())
    return RegisterPage(
        items=items, total=total, page=page, per_page=per_page, team_names=names, total_is_estimate=estimate
    )


def register_total(query: sa.Select[Any]) -> tuple[int, bool]:
    """How many rows a register query has: exact up to the setting, else the planner's estimate.

    Counting a million rows costs most of a page's time, and nobody reads "1,000,000" as more
    useful than "about 1,000,000". The count stops at the limit + 1; past it, PostgreSQL's
    planner estimate is given (never below the limit + 1) with `True`. SQLite has no estimate,
    so it counts on (SQLite is not where a register grows to a million).
    """
    limit = int(current_app.config.get("REGISTER_EXACT_TOTAL_UP_TO", EXACT_TOTAL_UP_TO))
    bare = query.order_by(None)
    capped = db.session.scalar(sa.select(sa.func.count()).select_from(bare.limit(limit + 1).subquery())) or 0
    if capped <= limit:
        return capped, False
    if db.session.get_bind().dialect.name != "postgresql":
        return db.session.scalar(sa.select(sa.func.count()).select_from(bare.subquery())) or 0, False
    plan = db.session.execute(Explain(bare)).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(int(plan[0]["Plan"]["Plan Rows"]), limit + 1), True


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a select, to read the planner's row estimate without running it."""

    inherit_cache = False

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


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
