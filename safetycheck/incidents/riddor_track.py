"""The RIDDOR track of an incident: screen it, count the days, record the HSE submission.

The law and the day counting are in `riddor.py` (pure); this keeps the inputs, the answer and
its deadline on the incident so the register can filter on them and show the days left.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from safetycheck.errors import Conflict, ValidationFailed
from safetycheck.extensions import db
from safetycheck.incidents import riddor
from safetycheck.incidents.enums import PHYSICAL_CATEGORIES, RiddorState
from safetycheck.incidents.models import Incident, IncidentRiddor
from safetycheck.incidents.riddor import RiddorClass
from safetycheck.localtime import local_date, start_of_local_day
from safetycheck.timeline import service as timeline

_INPUTS = ("physical", "specified_injury", "death", "incapacitated", "first_day_back")


def state_of(row: IncidentRiddor) -> RiddorState:
    if row.submitted_at is not None:
        return RiddorState.SUBMITTED
    if row.classification in riddor.REPORTABLE:
        return RiddorState.REPORTABLE
    return {
        RiddorClass.PENDING: RiddorState.PENDING,
        RiddorClass.RECORD_ONLY: RiddorState.RECORD_ONLY,
    }.get(row.classification, RiddorState.NOT_REPORTABLE)


def days_left(row: IncidentRiddor, *, now: datetime) -> int | None:
    """Days until the report is due (negative when late); None when nothing is due or it is sent."""
    if row.report_by is None or row.submitted_at is not None:
        return None
    return (row.report_by - local_date(now)).days


def view(row: IncidentRiddor, *, now: datetime) -> dict[str, Any]:
    """The track as people read it, with the days left counted today."""
    return {
        **{
            name: getattr(row, name)
            for name in (*_INPUTS, "report_by", "reason", "hse_reference", "submitted_at")
        },
        "classification": str(row.classification),
        "state": str(state_of(row)),
        "days_left": days_left(row, now=now),
    }


def screen_on_report(incident: Incident, *, now: datetime) -> None:
    """Physical violence starts its RIDDOR clock when reported, before anyone has triaged it."""
    if incident.category in PHYSICAL_CATEGORIES and incident.riddor is None:
        screen(incident, now=now, actor_id=None, physical=True)


def screen(
    incident: Incident,
    *,
    now: datetime,
    actor_id: int | None,
    physical: bool,
    specified_injury: bool = False,
    death: bool = False,
    incapacitated: bool | None = None,
    first_day_back: date | None = None,
) -> IncidentRiddor:
    """Record the screen's answers and classify; the timeline keeps each version."""
    if first_day_back is not None and incapacitated is False:
        raise ValidationFailed(
            "A first day back means the worker was off or on restricted duty.",
            {"first_day_back": ["Only with incapacitated true."]},
        )
    values = {
        "physical": physical,
        "specified_injury": specified_injury,
        "death": death,
        "incapacitated": True if first_day_back is not None else incapacitated,
        "first_day_back": first_day_back,
    }
    row = incident.riddor
    if row is None:
        row = IncidentRiddor(incident_id=incident.id)
        db.session.add(row)
        incident.riddor = row
    before = {name: _jsonable(getattr(row, name, None)) for name in _INPUTS}
    for name, value in values.items():
        setattr(row, name, value)
    _classify(incident, row, now=now)
    row.updated_at, row.updated_by = now, actor_id
    db.session.flush()
    timeline.record(
        "incident",
        incident.id,
        "riddor_screened",
        at=now,
        actor_id=actor_id,
        before=before,
        after={name: _jsonable(getattr(row, name)) for name in _INPUTS},
        classification=str(row.classification),
        report_by=_jsonable(row.report_by),
    )
    return row


def reassess(incident: Incident, *, now: datetime) -> bool:
    """Count again (a worker still off crosses the over-7 line); True when the answer changed."""
    row = incident.riddor
    if row is None:
        return False
    before = row.classification
    _classify(incident, row, now=now)
    if row.classification != before:
        timeline.record(
            "incident",
            incident.id,
            "riddor_reclassified",
            at=now,
            before=str(before),
            classification=str(row.classification),
            report_by=_jsonable(row.report_by),
            reason=row.reason,
        )
    db.session.flush()
    return row.classification != before


def submit(
    incident: Incident,
    *,
    hse_reference: str,
    now: datetime,
    actor_id: int,
    submitted_at: datetime | None = None,
) -> IncidentRiddor:
    """Record that the incident was reported to HSE, with the reference HSE gave."""
    row = incident.riddor
    if row is None or row.classification not in (*riddor.REPORTABLE, RiddorClass.PENDING):
        raise Conflict(
            "Only an incident screened as reportable (or pending) is reported to HSE.",
            {"riddor": [f"Screened as {row.classification if row else 'not screened'}."]},
        )
    if row.submitted_at is not None:
        raise Conflict("Already reported to HSE.", {"hse_reference": [row.hse_reference or ""]})
    when = submitted_at or now
    if when > now + timedelta(minutes=1):
        raise ValidationFailed("Invalid time.", {"submitted_at": ["Must not be in the future."]})
    row.hse_reference, row.submitted_at, row.submitted_by = hse_reference.strip(), when, actor_id
    row.reassess_at = None
    incident.riddor_state = RiddorState.SUBMITTED
    db.session.flush()
    timeline.record(
        "incident",
        incident.id,
        "riddor_submitted",
        at=now,
        actor_id=actor_id,
        hse_reference=row.hse_reference,
        submitted_at=when.isoformat(),
    )
    return row


def _classify(incident: Incident, row: IncidentRiddor, *, now: datetime) -> None:
    incident_date = local_date(incident.occurred_at)
    today = max(local_date(now), incident_date)
    still_off = row.incapacitated is True and row.first_day_back is None
    try:
        if row.incapacitated is None:
            days = None
        elif row.incapacitated:
            days = riddor.incapacity_days_from(incident_date, row.first_day_back, today)
        else:
            days = 0
        answer = riddor.assess(
            physical=row.physical,
            incapacity_days=days,
            incident_date=incident_date,
            today=today,
            death=row.death,
            specified_injury=row.specified_injury,
            still_incapacitated=still_off,
        )
    except ValueError as exc:  # a first day back before the incident or in the future
        raise ValidationFailed("Invalid RIDDOR dates.", {"first_day_back": [str(exc)]}) from exc
    row.classification = answer.cls
    row.report_by = answer.report_by
    row.reason = answer.reason[:300]
    decisive_day = incident_date + timedelta(days=riddor.OVER_7_DAYS + 1)
    pending_off = answer.cls == RiddorClass.PENDING and still_off and row.submitted_at is None
    row.reassess_at = start_of_local_day(decisive_day) if pending_off else None
    incident.riddor_state = state_of(row)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
