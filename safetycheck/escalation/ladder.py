"""Advance one alarm up its ladder: decide the step, write its texts, move the deadline.

Called by the sweep with the alarm row claimed (`FOR UPDATE SKIP LOCKED`), inside the one
transaction that also writes the texts to the outbox, so a step is decided exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import partial

import sqlalchemy as sa

from safetycheck import wording as texts
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import bundling, calls, events, policy, recipients
from safetycheck.escalation.enums import LIVE_STATUSES, AlarmKind, AlarmStatus, MessagePurpose, RecipientGroup
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.faults import crash_point
from safetycheck.timeline import service as timeline
from safetycheck.visits.models import Visit

log = logging.getLogger(__name__)


def advance_alarm(alarm: Alarm, *, rules: policy.Policy, now: datetime, tz: tzinfo) -> int:
    """Take the ladder execution(s) due for this alarm; returns how many texts were queued."""
    if alarm.status != AlarmStatus.OPEN:
        alarm.next_step_at = None
        return 0
    ladder = rules.ladders.get(alarm.kind)
    if ladder is None:
        log.error("no escalation ladder for alarm kind %s (alarm %s)", alarm.kind, alarm.id)
        alarm.next_step_at = None
        return 0
    step = policy.advance(ladder, alarm.executed_steps, alarm.origin_at, now)
    if step is None:
        due = policy.execution_due_at(ladder, alarm.executed_steps, alarm.origin_at)
        pulled_forward = (
            # Only a dead number pulls a step forward, and only after a step has gone out: a new
            # alarm's next_step_at is its origin, which is not a request to hurry.
            alarm.executed_steps > 0
            and due is not None
            and alarm.next_step_at is not None
            and alarm.next_step_at < due
        )
        if not pulled_forward:
            alarm.next_step_at = due  # not due yet (or the ladder is exhausted)
            return 0
        assert due is not None  # pulled_forward requires it
        # next_step_at was pulled forward (the last contacts' numbers are dead): take the next
        # step now, as if its time had come.
        step = policy.advance(ladder, alarm.executed_steps, alarm.origin_at, due)
        if step is None:
            alarm.next_step_at = due
            return 0
    people, fell_back = recipients.resolve(alarm, step.notify, now=now)
    visit = db.session.get(Visit, alarm.visit_id) if alarm.visit_id else None
    queued = 0
    reachable = 0
    for person in people:
        if person.id == alarm.practitioner_id and alarm.kind in policy.SILENT_TO_PRACTITIONER:
            continue  # never text the phone of a worker under threat (the policy forbids it too)
        body = _body(alarm, visit, person.id, step, ladder, tz)
        # Written now, or with the person's other alarms of this sweep batch as one text.
        message = bundling.queue_step_text(
            alarm=alarm,
            person=person,
            execution=step.executed,
            body=body,
            line=partial(_body, alarm, visit, person.id, step, ladder, tz, render=texts.escalation_line),
            now=now,
        )
        alarm_service.note_recipient(alarm.id, person.id, now=now)
        if message is not None:
            queued += 1
            reachable += message.reachable
    reachable += calls.place_for_step(alarm, step, visit=visit, now=now, tz=tz)  # the step's `call`
    crash_point("after_step_decided")
    alarm.executed_steps = step.executed
    alarm.last_step_index = step.step_index
    alarm.last_step_at = now
    alarm.next_step_at = step.next_due_at
    if reachable == 0 and _has_further_step(ladder, step.executed):
        # Nobody in this step can be reached: climb at once rather than wait out the delay.
        alarm.next_step_at = now
    timeline.record(
        "alarm",
        alarm.id,
        "escalated",
        at=now,
        restricted=alarm.kind == AlarmKind.DURESS,
        execution=step.executed,
        step=step.step_index,
        notified=sorted(p.id for p in people),
        caught_up=step.caught_up,
        fallback=fell_back,
    )
    return queued


def skip_dead_contact(alarm_id: int, *, now: datetime, rules: policy.Policy) -> None:
    """A number turned out to be undeliverable: if nobody else in the step can still be reached,
    pull the next step forward to now instead of waiting out its delay."""
    alarm = db.session.get(Alarm, alarm_id, with_for_update={"of": Alarm})
    if alarm is None or alarm.status != AlarmStatus.OPEN:
        return
    ladder = rules.ladders.get(alarm.kind)
    if ladder is None or not _has_further_step(ladder, alarm.executed_steps):
        return  # repeats of the last step keep their pace; only climbing is sped up
    still_live = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(
            # Its texts of this execution, alone or bundled with other alarms.
            OutboxMessage.id.in_(bundling.carrying(alarm.id, alarm.executed_steps)),
            OutboxMessage.purpose == MessagePurpose.ESCALATION,
            OutboxMessage.recipient_id != alarm.practitioner_id,
            OutboxMessage.status.in_(LIVE_STATUSES),
        )
    )
    if still_live:
        return  # someone else in this step got (or will get) the text
    if alarm.next_step_at is None or alarm.next_step_at > now:
        alarm.next_step_at = now
        timeline.record(
            "alarm", alarm.id, "contact_unreachable", at=now, restricted=alarm.kind == AlarmKind.DURESS
        )


def _has_further_step(ladder: policy.Ladder, executed: int) -> bool:
    return executed < len(ladder.steps)


def _incident_address(incident_id: int) -> str | None:
    """Where the chased incident happened, as reported (it may be away from any visit)."""
    return events.incident_address.ask(incident_id)


def _body(
    alarm: Alarm,
    visit: Visit | None,
    person_id: int,
    step: policy.Advance,
    ladder: policy.Ladder,
    tz: tzinfo,
    render: Callable[..., str] = texts.escalation,
) -> str:
    if person_id == alarm.practitioner_id:
        managers_at = None
        # After an outage the worker's step can be merged with the managers' (catch-up): then
        # they are being texted now, and a time in the future would be wrong.
        managers_alerted = RecipientGroup.TEAM_MANAGERS in step.notify
        for k in range(step.executed, step.executed + len(ladder.steps)):
            due = policy.execution_due_at(ladder, k, alarm.origin_at)
            if managers_alerted or due is None:
                break
            if RecipientGroup.TEAM_MANAGERS in ladder.steps[min(k, len(ladder.steps) - 1)].notify:
                managers_at = due
                break
        return texts.overdue_to_practitioner(
            address=visit.address if visit else "your visit",
            due_at=visit.due_at if visit else alarm.origin_at,
            managers_at=managers_at,
            managers_alerted=managers_alerted,
            tz=tz,
        )
    lat, lon, located = alarm.lat, alarm.lon, alarm.raised_at if alarm.lat is not None else None
    if (
        visit is not None
        and visit.last_lat is not None
        # last_located_at is written with last_lat (visits.service._set_location); a position
        # without its time cannot be shown to be newer, so the alarm's own is kept then.
        and (located is None or (visit.last_located_at is not None and visit.last_located_at > located))
    ):
        lat, lon, located = visit.last_lat, visit.last_lon, visit.last_located_at
    address = visit.address if visit else None
    if alarm.kind == AlarmKind.INCIDENT and alarm.incident_id is not None:
        address = _incident_address(alarm.incident_id) or address
    return render(
        kind=alarm.kind,
        code=alarm.code,
        practitioner_name=alarm.practitioner.name,
        practitioner_phone=alarm.practitioner.phone,
        address=address,
        due_at=visit.due_at if visit and alarm.kind == AlarmKind.OVERDUE else None,
        raised_at=alarm.raised_at,
        location=texts.location_phrase(lat, lon, located, tz),
        message=alarm.message,
        repeat=max(0, step.executed - len(ladder.steps)),
        tz=tz,
    )
