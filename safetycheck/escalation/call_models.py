"""The call outbox: one phone call to one person for one ladder step, and what became of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from safetycheck.db import str_enum
from safetycheck.escalation.enums import OutboxStatus
from safetycheck.extensions import Model


class CallOutcome(StrEnum):
    """How a call ended, as far as the alarm is concerned; stored as these strings."""

    ACKNOWLEDGED = "acknowledged"  # pressed 1: took charge (or was told who already had)
    OTHER_KEY = "other_key"  # answered and pressed something else
    NO_KEYPRESS = "no_keypress"  # answered, then silence or a hang-up
    VOICEMAIL = "voicemail"  # an answering machine or fax (AnsweredBy machine_*/fax)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # Twilio could not place it, or gave up on it
    CANCELED = "canceled"


#: Outcomes that mean nobody heard the alarm: the ladder climbs at once.
UNANSWERED = frozenset({CallOutcome.VOICEMAIL, CallOutcome.NO_ANSWER, CallOutcome.BUSY, CallOutcome.FAILED})


class CallOutboxRow(Model):
    """A call written in the transaction that decided the step, placed by the drain afterwards.

    `status` follows the delivery rules of texts (pending → sending → sent, with claims, restamps
    and reconciling); `sent` means Twilio accepted the call (it has a SID). What happened on the
    line arrives later by status callbacks and the keypress, in the columns below `sent_at`.
    """

    __tablename__ = "call_outbox"
    __table_args__ = (sa.Index("ix_call_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Exactly-once backstop: "alarm:12:exec:3:call:5".
    dedupe_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    to_phone: Mapped[str] = mapped_column(sa.String(20), index=True)
    recipient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    alarm_id: Mapped[int] = mapped_column(sa.ForeignKey("alarms.id"), index=True)
    step_execution: Mapped[int | None]
    # What the call reads out, decided with the step (as a text's body is).
    script: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus), default=OutboxStatus.PENDING)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    claimed_at: Mapped[datetime | None]
    outcome_unknown_since: Mapped[datetime | None]
    sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(sa.String(300))
    sent_at: Mapped[datetime | None]
    # On the line: Twilio's CallStatus, AnsweredBy, the keys pressed, and our verdict.
    provider_status: Mapped[str | None] = mapped_column(sa.String(20))
    answered_by: Mapped[str | None] = mapped_column(sa.String(30))
    digits: Mapped[str | None] = mapped_column(sa.String(20))
    ringing_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    outcome: Mapped[CallOutcome | None] = mapped_column(str_enum(CallOutcome))
    status_updated_at: Mapped[datetime | None]
