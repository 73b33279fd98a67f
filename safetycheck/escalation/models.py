"""Alarms, the SMS outbox and inbound texts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safetycheck.accounts.models import User
from safetycheck.db import str_enum
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.escalation.urgency import Urgency
from safetycheck.extensions import Model


class Alarm(Model):
    """Something that needs a person to take charge, and where its ladder has got to."""

    __tablename__ = "alarms"
    __table_args__ = (
        # The sweep's query: open alarms by the time of their next step.
        sa.Index("ix_alarms_status_next_step_at", "status", "next_step_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AlarmKind] = mapped_column(str_enum(AlarmKind))
    status: Mapped[AlarmStatus] = mapped_column(str_enum(AlarmStatus), default=AlarmStatus.OPEN)
    # The short code people reply with (ACK K7Q2); unique for ever, so an old code never
    # acknowledges a new alarm.
    code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    # Makes raising idempotent: one overdue alarm per visit due time, one duress alarm per visit.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    practitioner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(index=True)  # kind incident only
    raised_at: Mapped[datetime]
    # The ladder's time zero: the visit's due time for overdue, raised_at otherwise.
    origin_at: Mapped[datetime]
    message: Mapped[str | None] = mapped_column(sa.String(500))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    # Ladder progress: how many executions are done, which step ran last, when the next is due
    # (None: exhausted, or no longer open).
    executed_steps: Mapped[int] = mapped_column(default=0, server_default="0")
    last_step_index: Mapped[int | None]
    last_step_at: Mapped[datetime | None]
    next_step_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_via: Mapped[str | None] = mapped_column(sa.String(10))  # sms, api, web
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(40))
    resolution_notes: Mapped[str | None] = mapped_column(sa.Text)

    # Not joined eagerly: alarms are locked `FOR UPDATE (SKIP LOCKED)`, which PostgreSQL refuses
    # on a query with an eager LEFT OUTER JOIN.
    practitioner: Mapped[User] = relationship(foreign_keys=[practitioner_id])


class AlarmRecipient(Model):
    """Who has been texted about an alarm: they may acknowledge it and are told when it ends."""

    __tablename__ = "alarm_recipients"
    __table_args__ = (sa.UniqueConstraint("alarm_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(sa.ForeignKey("alarms.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    first_notified_at: Mapped[datetime]


class OutboxMessage(Model):
    """One text to one phone, written in the transaction that decided it and sent afterwards."""

    __tablename__ = "sms_outbox"
    __table_args__ = (
        sa.Index("ix_sms_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # The claim's query: due texts, most urgent first, then earliest due.
        sa.Index("ix_sms_outbox_status_urgency_next_attempt_at", "status", "urgency", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Exactly-once backstop: e.g. "alarm:12:exec:3:user:5". A second sweeper deciding the same
    # step would violate it and roll back.
    dedupe_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    purpose: Mapped[MessagePurpose] = mapped_column(str_enum(MessagePurpose))
    to_phone: Mapped[str] = mapped_column(sa.String(20), index=True)
    recipient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    alarm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alarms.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id"))
    step_execution: Mapped[int | None]
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus), default=OutboxStatus.PENDING)
    # Claim order, lower first (`escalation/urgency.py`): panic and duress before everything.
    urgency: Mapped[int] = mapped_column(
        sa.SmallInteger, default=int(Urgency.NOTICE), server_default=str(int(Urgency.NOTICE))
    )
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    claimed_at: Mapped[datetime | None]
    # Set when an attempt may have reached Twilio without an answer: ask Twilio before resending.
    outcome_unknown_since: Mapped[datetime | None]
    sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(sa.String(20))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(sa.String(300))
    sent_at: Mapped[datetime | None]
    status_updated_at: Mapped[datetime | None]


class OutboxAlarm(Model):
    """Which alarm (and ladder execution) a text carried: one row for a single alarm's text, one
    per alarm for a bundle (`bundling.py`). The unique key is the per-alarm exactly-once backstop
    (one text per alarm, execution and person), and the board reads a bundle's delivery through it."""

    __tablename__ = "sms_outbox_alarms"
    __table_args__ = (sa.UniqueConstraint("alarm_id", "step_execution", "recipient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("sms_outbox.id"), index=True)
    alarm_id: Mapped[int] = mapped_column(sa.ForeignKey("alarms.id"), index=True)
    step_execution: Mapped[int]
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    position: Mapped[int] = mapped_column(default=0, server_default="0")  # its line in the text

    # Lets a link be added with its text before either is flushed (`bundling._insert_own`).
    message: Mapped[OutboxMessage] = relationship()


class InboundSms(Model):
    """Every text received, once per Twilio MessageSid (Twilio retries webhooks)."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(sa.String(20), index=True)
    body: Mapped[str] = mapped_column(sa.String(1600))
    received_at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    command: Mapped[str | None] = mapped_column(sa.String(20))
    result: Mapped[str | None] = mapped_column(sa.String(300))
    reply: Mapped[str | None] = mapped_column(sa.String(1600))
