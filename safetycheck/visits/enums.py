"""Visit statuses and check-out outcomes, stored as these strings."""

from enum import StrEnum


class VisitStatus(StrEnum):
    ACTIVE = "active"
    OVERDUE = "overdue"  # past due without check-out; an overdue alarm is open
    COMPLETED = "completed"


CURRENT_STATUSES = (VisitStatus.ACTIVE, VisitStatus.OVERDUE)


class CheckoutOutcome(StrEnum):
    SAFE = "safe"
    INCIDENT = "incident"
