"""Alarm and outbox statuses, stored as these strings. Alarm kinds live in `policy.AlarmKind`."""

from enum import StrEnum

from safetycheck.escalation.policy import AlarmKind, RecipientGroup

__all__ = ["AlarmKind", "AlarmStatus", "MessagePurpose", "OutboxStatus", "RecipientGroup"]


class AlarmStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # a person took charge; the ladder stops
    RESOLVED = "resolved"


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a sender; if it stays here the sender died mid-send
    SENT = "sent"  # Twilio accepted it (has a SID)
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after retries
    UNDELIVERABLE = "undeliverable"  # the number can never work (invalid, STOP, landline)
    CANCELLED = "cancelled"  # no longer needed (the alarm was acknowledged before it went)


OPEN_OUTBOX_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENDING)
# The text left us and may have reached the phone.
REACHED_STATUSES = (OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.DELIVERED)
# The text is on its way or there: pending counts, a later attempt will send it.
LIVE_STATUSES = (OutboxStatus.PENDING, *REACHED_STATUSES)


class MessagePurpose(StrEnum):
    REMINDER = "reminder"  # to the worker, before the visit is due
    ESCALATION = "escalation"  # a ladder step
    TAKEN_CHARGE = "taken_charge"  # to the others texted: someone acknowledged
    STAND_DOWN = "stand_down"  # to everyone texted: the worker is safe or the alarm resolved
    REPLY = "reply"  # an answer to an inbound text
    INCIDENT = "incident"  # a new incident report, to the reporter's managers
    ROTA = "rota"  # the on-call rota: a turn starting, a gap in cover (escalation/rota_notices.py)
    COVERAGE = "coverage"  # to admins: a team's overdue ladder would reach nobody who can act


class AlarmOutcome(StrEnum):
    """How an alarm ended, for the record and the alarm statistics."""

    SAFE = "safe"  # the worker was found safe
    FALSE_ALARM = "false_alarm"
    INCIDENT = "incident"  # something happened: opens a draft incident report
    EMERGENCY_SERVICES = "emergency_services"  # police or ambulance attended
    CHECKED_OUT = "checked_out"  # the worker checked out late (set by the system)
    EXTENDED = "extended"  # the worker extended an overdue visit (set by the system)
    SUPERSEDED = "superseded"  # replaced by a duress alarm (set by the system)


RESOLVABLE_BY_PEOPLE = (
    AlarmOutcome.SAFE,
    AlarmOutcome.FALSE_ALARM,
    AlarmOutcome.INCIDENT,
    AlarmOutcome.EMERGENCY_SERVICES,
)
