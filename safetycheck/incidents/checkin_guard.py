"""What the register knows about a household, applied at check-in (warnings and restrictions).

The visits service calls `assess` before a check-in and `link_visit` after it, so that household
markers are shown and enforced at every check-in without visits knowing how markers work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safetycheck.accounts.models import User


@dataclass(frozen=True)
class CheckInAssessment:
    warnings: list[dict[str, Any]] = field(default_factory=list)
    refusal: str | None = None  # a reason to refuse the check-in (409), e.g. office-only
    household_id: int | None = None


def assess(*, address: str, practitioner: User, companion_id: int | None, now: datetime) -> CheckInAssessment:
    """Warnings and restrictions for a check-in at this address."""
    return CheckInAssessment()


def link_visit(visit: Any, assessment: CheckInAssessment, *, now: datetime) -> None:
    """Remember which household the visit was at (for repeat-address statistics)."""
