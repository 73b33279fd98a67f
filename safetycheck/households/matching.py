"""Households: typed addresses matched to one record per home, and visits linked to them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from safetycheck.errors import NotFound
from safetycheck.extensions import db
from safetycheck.households.addresses import normalise_address
from safetycheck.households.models import Household, VisitHousehold
from safetycheck.timeline import service as timeline


def address_key(address: str) -> str | None:
    """The matching key of a typed address, or None when there is nothing to match."""
    if not address or not address.strip():
        return None
    return normalise_address(address).key or None


def find_household(address: str) -> Household | None:
    key = address_key(address)
    if key is None:
        return None
    return db.session.scalar(sa.select(Household).where(Household.key == key))


def household_for(address: str, *, now: datetime, actor_id: int | None = None) -> Household | None:
    """Find the household at this address, creating it the first time the address is seen."""
    key = address_key(address)
    if key is None:
        return None
    found = db.session.scalar(sa.select(Household).where(Household.key == key))
    if found is not None:
        return found
    normalised = normalise_address(address)
    household = Household(
        key=key, display_address=normalised.display[:500], postcode=normalised.postcode, created_at=now
    )
    try:
        with db.session.begin_nested():
            db.session.add(household)
            db.session.flush()
    except IntegrityError:
        # Another request created it between our look-up and our insert.
        return db.session.scalar(sa.select(Household).where(Household.key == key))
    timeline.record(
        "household", household.id, "created", at=now, actor_id=actor_id, address=household.display_address
    )
    return household


def get_household(household_id: int) -> Household:
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound("Household not found.")
    return household


def link_visit(visit_id: int, household_id: int, *, now: datetime, new_visit: bool = False) -> None:
    """Remember that a visit was at this household (once; a retried link changes nothing).

    `new_visit`: the visit was inserted in the caller's transaction, so no link can exist yet
    and the look-up (a round trip on every check-in) is skipped.
    """
    if new_visit or db.session.get(VisitHousehold, visit_id) is None:
        db.session.add(VisitHousehold(visit_id=visit_id, household_id=household_id, linked_at=now))
        db.session.flush()
