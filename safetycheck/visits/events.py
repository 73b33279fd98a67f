"""What the visits package announces, for the packages above it to act on.

Visits know nothing of alarms or of the household register: a check-in asks the register's
hook for warnings and restrictions, and a late check-out, an extension of an overdue visit or a
visit going overdue is announced, and escalation (subscribed at app start) raises or stands down
its alarms. See `safetycheck/hooks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from safetycheck.accounts.models import User
from safetycheck.hooks import Event, Hook
from safetycheck.visits.models import Visit


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class CheckInRequest:
    address: str
    practitioner: User
    companion_id: int | None
    now: datetime


@dataclass(frozen=True)
class CheckInAssessment:
    warnings: list[dict[str, Any]] = field(default_factory=list)
    refusal: str | None = None  # a reason to refuse the check-in (409), e.g. office-only
    household_id: int | None = None
    address: str | None = None  # as typed, so that the register can create the household


@dataclass(frozen=True)
class CheckInAccepted:
    visit: Visit
    assessment: CheckInAssessment
    now: datetime


@dataclass(frozen=True)
class OverdueVisitExtended:
    visit: Visit
    minutes: int
    actor_id: int
    now: datetime


@dataclass(frozen=True)
class VisitCheckedOut:
    visit: Visit
    practitioner: User
    late: bool  # it was overdue
    duress: bool  # the duress PIN was used
    last_location: Location | None
    now: datetime


@dataclass(frozen=True)
class VisitWentOverdue:
    visit: Visit
    practitioner: User
    now: datetime


@dataclass(frozen=True)
class ReminderDue:
    visit: Visit
    practitioner: User
    now: datetime


# A check-in about to be accepted: what the register knows about the address.
assess_check_in: Hook[CheckInRequest, CheckInAssessment] = Hook("visits.assess_check_in")
check_in_accepted: Event[CheckInAccepted] = Event("visits.check_in_accepted", required=True)
overdue_visit_extended: Event[OverdueVisitExtended] = Event("visits.overdue_visit_extended", required=True)
visit_checked_out: Event[VisitCheckedOut] = Event("visits.visit_checked_out", required=True)
visit_went_overdue: Event[VisitWentOverdue] = Event("visits.visit_went_overdue", required=True)
reminder_due: Event[ReminderDue] = Event("visits.reminder_due", required=True)
# How long before the due time the worker is reminded (the escalation policy says; zero: never).
reminder_lead: Hook[datetime, timedelta] = Hook("visits.reminder_lead")
