"""What the register knows about a household, applied at check-in (warnings and restrictions).

Visits ask the `assess_check_in` hook before a check-in and announce `check_in_accepted` after
it; `subscribe` answers both with `assess` and `link_visit`, so that household markers are shown
and enforced at every check-in without visits knowing how markers work.
"""

from __future__ import annotations

from typing import Any

from safetycheck.households import markers as marker_service
from safetycheck.households import matching as households
from safetycheck.households.enums import MarkerControl
from safetycheck.visits import events as visit_events
from safetycheck.visits.events import CheckInAccepted, CheckInAssessment, CheckInRequest


def subscribe() -> None:
    visit_events.assess_check_in.answer_with(assess)
    visit_events.check_in_accepted.subscribe(link_visit)


def assess(request: CheckInRequest) -> CheckInAssessment:
    """Warnings and restrictions for a check-in at this address.

    Only a household already in the register can carry markers, so nothing is written here:
    a refused check-in must leave no trace but its 409.
    """
    address, now = request.address, request.now
    key = households.address_key(address)
    household, active = (
        (None, []) if key is None else marker_service.household_with_active_markers(key, now=now)
    )
    if household is None:
        return CheckInAssessment(address=address)
    warnings = [marker_service.warning(marker) for marker in active]
    return CheckInAssessment(
        warnings=warnings,
        refusal=_refusal(active, request.companion_id),
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


def link_visit(accepted: CheckInAccepted) -> None:
    """Remember which household the visit was at (for repeat-address statistics)."""
    visit, assessment, now = accepted.visit, accepted.assessment, accepted.now
    household_id = assessment.household_id
    if household_id is None:
        household = households.household_for(
            assessment.address or visit.address, now=now, actor_id=visit.practitioner_id
        )
        household_id = household.id if household is not None else None
    if household_id is not None:
        # The visit was inserted in this very transaction: nothing can have linked it yet.
        households.link_visit(visit.id, household_id, now=now, new_visit=True)
