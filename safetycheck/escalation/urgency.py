"""How urgent a text is: the outbox claims the most urgent due text first, then the earliest due.

Stored on each outbox row (`sms_outbox.urgency`, lower is sooner) when the text is queued, so the
claim is one index scan (status, urgency, next_attempt_at) rather than a join to the alarm. A
panic raised in the middle of a burst of reminders is then the next text any sender takes.
"""

from __future__ import annotations

from enum import IntEnum

from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.policy import AlarmKind


class Urgency(IntEnum):
    """Claim order; the values are stored, so only ever add between or after them."""

    PANIC = 0  # panic and duress: a worker under threat
    ESCALATION = 10  # a ladder step to managers or on-call (overdue, serious incidents)
    PRACTITIONER = 20  # a text to the worker: an overdue warning, a reply to their text
    NOTICE = 30  # taken charge, stand-downs, incident notices, reminders


_THREATS = frozenset({AlarmKind.PANIC, AlarmKind.DURESS})


def urgency_for(
    purpose: MessagePurpose, *, alarm_kind: AlarmKind | None = None, to_practitioner: bool = False
) -> Urgency:
    """The urgency of a text from what it is for, its alarm's kind and whether it goes to the worker."""
    if purpose == MessagePurpose.ESCALATION:
        if alarm_kind in _THREATS:
            return Urgency.PANIC
        return Urgency.PRACTITIONER if to_practitioner else Urgency.ESCALATION
    if purpose == MessagePurpose.REPLY:
        return Urgency.PRACTITIONER  # someone is waiting, phone in hand, for the answer
    return Urgency.NOTICE
