"""What the register knows about a household, applied at check-in (warnings and restrictions).

The visits service calls `assess` before a check-in and `link_visit` after it, so that household
markers are shown and enforced at every check-in without visits knowing how markers work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safetycheck.accounts.models import User
from safetycheck.incidents import households
from safetycheck.incidents import markers as marker_service
from safetycheck.incidents.enums import MarkerControl


@dataclass(frozen=True)
class CheckInAssessment:
    warnings: list[dict[str, Any]] = field(default_factory=list)
    refusal: str | None = None  # a reason to refuse the check-in (409), e.g. office-only
    household_id: int | None = None
    address: str | None = None  # as typed, so that link_visit can create the household


def assess(*, address: str, practitioner: User, companion_id: int | None, now: datetime) -> CheckInAssessment:
    """Warnings and restrictions for a check-in at this address.

    Only a household already in the register can carry markers, so nothing is written here:
    a refused check-in must leave no trace but its 409.
    """
    household = households.find_household(address)
    if household is None:
        return CheckInAssessment(address=address)
    active = marker_service.active_markers(household.id, now=now)
    warnings = [marker_service.warning(marker) for marker in active]
    return CheckInAssessment(
        warnings=warnings,
        refusal=_refusal(active, companion_id),
        household_id=household.id,
        address=address,
    )


def _refusal(active: list[Any], companion_id: int | None) -> str | None:
    for marker in active:
        if MarkerControl.OFFICE_ONLY in marker.controls:
            return (
                f"Office-only at this address (marker {marker.id}): {marker.reason} "
                "Arrange to see the family at the office."
            )
    if companion_id is None:
        for marker in active:
            if MarkerControl.JOINT_VISIT in marker.controls:
                return (
                    f"Joint visits only at this address (marker {marker.id}): {marker.reason} "
                    "Check in again naming your colleague as companion_id."
                )
    return None


def link_visit(visit: Any, assessment: CheckInAssessment, *, now: datetime) -> None:
    """Remember which household the visit was at (for repeat-address statistics)."""
    household_id = assessment.household_id
    if household_id is None:
        household = households.household_for(
            assessment.address or visit.address, now=now, actor_id=visit.practitioner_id
        )
        household_id = household.id if household is not None else None
    if household_id is not None:
        households.link_visit(visit.id, household_id, now=now)
