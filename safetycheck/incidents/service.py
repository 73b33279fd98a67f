"""Reporting incidents: the 30-second report, the one-tap near miss, drafts from alarms, details later.

A report needs five things (when, what kind, what happened, near miss or not, harmed or not);
everything else can follow. Reporting texts the reporter's managers at once, and for serious
categories also on-call, with an alarm the sweep chases until a manager acknowledges.
Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from safetycheck.accounts import rota
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.engine import wake
from safetycheck.errors import Conflict, NotFound, ValidationFailed
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households import matching as households
from safetycheck.incidents import notify, reach, riddor_track, support, workflow
from safetycheck.incidents.enums import IncidentCategory, IncidentStatus, NearMissKind
from safetycheck.incidents.models import Incident
from safetycheck.timeline import service as timeline
from safetycheck.visits import service as visit_service
from safetycheck.visits.models import Visit

FUTURE_SLACK = timedelta(minutes=1)  # phone clocks drift
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # a typo guard, not a rule

# What the reporter or a manager may add or correct after the report.
EDITABLE = (
    "occurred_at",
    "category",
    "description",
    "near_miss",
    "harmed",
    "address",
    "injury",
    "left_premises",
    "police_called",
    "police_reference",
)


def report(
    reporter: User,
    *,
    occurred_at: datetime,
    category: IncidentCategory,
    description: str,
    near_miss: bool,
    now: datetime,
    harmed: bool | None = None,
    visit_id: int | None = None,
    alarm_id: int | None = None,
    address: str | None = None,
    near_miss_kind: NearMissKind | None = None,
    **details: Any,
) -> Incident:
    """Record a report and tell the managers at once."""
    harmed = _harmed(near_miss=near_miss, harmed=harmed)
    _check_when(occurred_at, now)
    _check_flags(near_miss=near_miss, harmed=harmed)
    visit = _visit_in_reach(reporter, visit_id) if visit_id is not None else None
    alarm = _alarm_in_reach(reporter, alarm_id) if alarm_id is not None else None
    if alarm is not None and visit is None and alarm.visit_id is not None:
        visit = db.session.get(Visit, alarm.visit_id)
    address = _clean(address) or (visit.address if visit else None)
    incident = Incident(
        status=IncidentStatus.REPORTED,
        category=category,
        description=description.strip(),
        near_miss=near_miss,
        near_miss_kind=near_miss_kind,
        harmed=harmed,
        occurred_at=occurred_at,
        created_at=now,
        reported_at=now,
        reporter_id=reporter.id,
        created_by=reporter.id,
        team_id=reporter.team_id,
        visit_id=visit.id if visit else None,
        alarm_id=alarm.id if alarm else None,
        **{
            name: details.get(name)
            for name in ("injury", "left_premises", "police_called", "police_reference")
        },
    )
    _place(incident, address, now=now, actor_id=reporter.id)
    _insert(incident)
    timeline.record(
        "incident",
        incident.id,
        "reported",
        at=now,
        actor_id=reporter.id,
        category=str(category),
        near_miss=near_miss,
        harmed=harmed,
        occurred_at=occurred_at.isoformat(),
        visit_id=incident.visit_id,
        alarm_id=incident.alarm_id,
        household_id=incident.household_id,
    )
    _open(incident, now=now, chase=True)
    return incident


def report_near_miss(
    reporter: User,
    *,
    kind: NearMissKind,
    now: datetime,
    visit_id: int | None = None,
    address: str | None = None,
    note: str | None = None,
    category: IncidentCategory = IncidentCategory.OTHER,
) -> Incident:
    """One tap: did not enter, left early, asked for a joint visit. A good catch, not a failure."""
    text = f"Near miss: {kind.plain}."
    if note and note.strip():
        text = f"{text} {note.strip()}"
    return report(
        reporter,
        occurred_at=now,
        category=category,
        description=text,
        near_miss=True,
        harmed=False,
        near_miss_kind=kind,
        visit_id=visit_id,
        address=address,
        now=now,
    )


def draft_from_alarm(alarm_id: int, *, actor_id: int, now: datetime) -> Incident:
    """Open a draft report for an alarm resolved as an incident, pre-filled from its timeline.

    The practitioner confirms it with a few lines; until then it is not in the register. Called
    by the escalation service inside its transaction; opening it twice returns the first draft.
    """
    alarm = db.session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound("Alarm not found.")
    if alarm.kind == AlarmKind.INCIDENT and alarm.incident_id is not None:
        linked = db.session.get(Incident, alarm.incident_id)
        if linked is not None:
            return linked  # the alarm was chasing an incident that already exists
    existing = db.session.scalar(sa.select(Incident).where(Incident.alarm_id == alarm.id))
    if existing is not None:
        return existing
    reporter = account_service.get_user(alarm.practitioner_id)
    visit = db.session.get(Visit, alarm.visit_id) if alarm.visit_id is not None else None
    incident = Incident(
        status=IncidentStatus.DRAFT,
        occurred_at=alarm.raised_at,
        created_at=now,
        reporter_id=reporter.id,
        created_by=actor_id,
        team_id=alarm.team_id if alarm.team_id is not None else reporter.team_id,
        visit_id=visit.id if visit else None,
        alarm_id=alarm.id,
        alarm_summary=_alarm_summary(alarm, visit),
    )
    _place(incident, visit.address if visit else None, now=now, actor_id=actor_id)
    try:
        _insert(incident)
    except IntegrityError:  # resolved twice at once: the other transaction's draft stands
        raced = db.session.scalar(sa.select(Incident).where(Incident.alarm_id == alarm.id))
        if raced is None:
            raise
        return raced
    timeline.record(
        "incident",
        incident.id,
        "drafted_from_alarm",
        at=now,
        actor_id=actor_id,
        alarm_id=alarm.id,
        visit_id=incident.visit_id,
    )
    incident.step_due_at = incident.next_reminder_at = workflow.target_for(
        incident, IncidentStatus.DRAFT, now
    )
    return incident


def confirm(
    actor: User,
    incident: Incident,
    *,
    category: IncidentCategory,
    description: str,
    near_miss: bool,
    now: datetime,
    harmed: bool | None = None,
    occurred_at: datetime | None = None,
    address: str | None = None,
    **details: Any,
) -> Incident:
    """Turn a draft into a report: it enters the register and the managers are told."""
    reach.require_reporter_or_manager(actor, incident, what="confirm a draft report")
    if incident.status != IncidentStatus.DRAFT:
        raise Conflict(
            f"Only a draft can be confirmed; this incident is {incident.status}.",
            {"status": [str(incident.status)]},
        )
    harmed = _harmed(near_miss=near_miss, harmed=harmed)
    when = occurred_at or incident.occurred_at
    _check_when(when, now)
    _check_flags(near_miss=near_miss, harmed=harmed)
    incident.category, incident.description = category, description.strip()
    incident.near_miss, incident.harmed, incident.occurred_at = near_miss, harmed, when
    incident.reported_at = now
    for name in ("injury", "left_premises", "police_called", "police_reference"):
        if details.get(name) is not None:
            setattr(incident, name, details[name])
    if _clean(address):
        _place(incident, _clean(address), now=now, actor_id=actor.id)
    timeline.record(
        "incident",
        incident.id,
        "confirmed",
        at=now,
        actor_id=actor.id,
        on_behalf=actor.id != incident.reporter_id,
        category=str(category),
        near_miss=near_miss,
        harmed=harmed,
    )
    workflow.set_status(incident, IncidentStatus.REPORTED, now=now, actor_id=actor.id)
    # A manager already took charge of the alarm this came from: tell the team, no new alarm.
    _open(incident, now=now, chase=False)
    return incident


def update_details(actor: User, incident: Incident, changes: dict[str, Any], *, now: datetime) -> Incident:
    """Add or correct details; each change goes onto the timeline as old -> new."""
    reach.require_reporter_or_manager(actor, incident, what="change the report")
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict("The incident is closed; reopen it to change it.", {"status": [str(incident.status)]})
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed.", {name: ["Not editable."] for name in unknown}
        )
    if "occurred_at" in changes:
        _check_when(changes["occurred_at"], now)
    was_serious = workflow.is_serious(incident)
    flags = {"near_miss": incident.near_miss, "harmed": incident.harmed}
    flags.update({k: v for k, v in changes.items() if k in flags})
    if flags["near_miss"] is not None and flags["harmed"] is not None:
        _check_flags(near_miss=bool(flags["near_miss"]), harmed=bool(flags["harmed"]))
    diff: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if name == "address":
            value = _clean(value)
        if name == "description" and value is not None:
            value = value.strip()
        old = getattr(incident, name)
        if old == value:
            continue
        diff[name] = {"old": _jsonable(old), "new": _jsonable(value)}
        if name == "address":
            _place(incident, value, now=now, actor_id=actor.id)
        else:
            setattr(incident, name, value)
    if not diff:
        return incident
    if "category" in diff and incident.status == IncidentStatus.REPORTED and incident.reported_at:
        incident.step_due_at = incident.next_reminder_at = workflow.target_for(
            incident, IncidentStatus.REPORTED, incident.reported_at
        )
    db.session.flush()
    timeline.record("incident", incident.id, "details_updated", at=now, actor_id=actor.id, changes=diff)
    if not was_serious and workflow.is_serious(incident) and incident.status == IncidentStatus.REPORTED:
        # Corrected to an assault, a weapon, a sexual incident or being held before anyone
        # acknowledged it: on-call hears of it and the chase starts, as if reported so.
        people = _managers(incident) + rota.on_call_at(now, team_id=incident.team_id)
        notify.became_serious(incident, [p for p in people if p.id != incident.reporter_id], now=now)
        if reach.reporter_may_see(incident):
            # Not for a duress incident: a manager already took charge of its alarm, and a
            # chasing alarm in the practitioner's name would show on their visit.
            _chase(incident, now=now)
    return incident


def timeline_for(user: User, incident: Incident) -> list[dict[str, Any]]:
    include_restricted = user.role != Role.PRACTITIONER
    return [
        {"event": e.event, "at": e.at, "actor_id": e.actor_id, "details": e.details}
        for e in timeline.entries_for("incident", incident.id, include_restricted=include_restricted)
    ]


# --- helpers -----------------------------------------------------------------------------------


def _open(incident: Incident, *, now: datetime, chase: bool) -> None:
    """Start the clocks and tell people: the step target, support, RIDDOR, texts, the alarm."""
    if incident.step_due_at is None:
        incident.step_due_at = incident.next_reminder_at = workflow.target_for(incident, incident.status, now)
    support.start(incident, now=now)
    riddor_track.screen_on_report(incident, now=now)
    serious = workflow.is_serious(incident)
    people = [m for m in _managers(incident) if m.id != incident.reporter_id]
    if serious and chase:
        people += [u for u in rota.on_call_at(now, team_id=incident.team_id) if u.id != incident.reporter_id]
    if not people:  # nobody in the team to tell: on-call hears of it rather than nobody
        people = [u for u in rota.on_call_at(now, team_id=incident.team_id) if u.id != incident.reporter_id]
    notify.reported(incident, people, now=now, serious=serious)
    if serious and chase:
        _chase(incident, now=now)
    if serious:
        wake.request_wake()  # its texts (and the chase's first step) leave on commit


def _chase(incident: Incident, *, now: datetime) -> None:
    """Raise the alarm the sweep chases until a manager acknowledges the incident."""
    # Only serious incidents are chased, and a serious one has a (serious) category.
    assert incident.category is not None
    alarm_service.raise_alarm(
        kind=AlarmKind.INCIDENT,
        practitioner=incident.reporter,
        now=now,
        visit_id=incident.visit_id,
        incident_id=incident.id,
        message=f"Incident {incident.id}: {IncidentCategory(incident.category).plain} reported"[:500],
        dedupe_key=f"incident:{incident.id}",
        actor_id=incident.reporter_id,
    )
    # Watch the alarm: a manager who replies ACK to its text acknowledges the incident.
    incident.next_reminder_at = now + workflow.ALARM_SYNC_EVERY


def _managers(incident: Incident) -> list[User]:
    return account_service.team_managers(incident.team_id) if incident.team_id is not None else []


def _place(incident: Incident, address: str | None, *, now: datetime, actor_id: int | None) -> None:
    """Set the address and match it to a household; note whether a marker was already in force."""
    incident.address = address
    household = households.household_for(address, now=now, actor_id=actor_id) if address else None
    incident.household_id = household.id if household else None
    incident.at_marked_household = bool(
        household and marker_service.had_marker_in_force(household.id, at=incident.occurred_at)
    )


def _insert(incident: Incident) -> None:
    with db.session.begin_nested():
        db.session.add(incident)
        db.session.flush()


def _alarm_summary(alarm: Alarm, visit: Visit | None) -> list[dict[str, Any]]:
    """The alarm's and visit's timeline as it stood, without restricted (duress) entries."""
    entries = timeline.entries_for("alarm", alarm.id, include_restricted=False)
    if visit is not None:
        entries += timeline.entries_for("visit", visit.id, include_restricted=False)
    entries.sort(key=lambda e: (e.at, e.id))
    return [
        {
            "subject": e.subject_type,
            "event": e.event,
            "at": e.at.isoformat(),
            "actor_id": e.actor_id,
            "details": e.details,
        }
        for e in entries
    ]


def _visit_in_reach(user: User, visit_id: int) -> Visit:
    try:
        return visit_service.get_visit(user, visit_id)
    except NotFound:
        raise ValidationFailed("Unknown visit.", {"visit_id": ["No such visit in your reach."]}) from None


def _alarm_in_reach(user: User, alarm_id: int) -> Alarm:
    try:
        alarm = alarm_service.get_alarm(user, alarm_id)
    except NotFound:
        raise ValidationFailed("Unknown alarm.", {"alarm_id": ["No such alarm in your reach."]}) from None
    taken = db.session.scalar(sa.select(Incident.id).where(Incident.alarm_id == alarm.id))
    if taken is not None:
        raise Conflict(
            f"Alarm {alarm.id} already has incident {taken}; add details to that one.",
            {"alarm_id": [f"Already linked to incident {taken}."]},
        )
    return alarm


def _check_when(occurred_at: datetime, now: datetime) -> None:
    if occurred_at.tzinfo is None:
        raise ValidationFailed("Invalid time.", {"occurred_at": ["Must carry a UTC offset."]})
    if occurred_at > now + FUTURE_SLACK:
        raise ValidationFailed("Invalid time.", {"occurred_at": ["Must not be in the future."]})
    if occurred_at < EARLIEST:
        raise ValidationFailed("Invalid time.", {"occurred_at": ["Must be after 2000-01-01."]})


def _harmed(*, near_miss: bool, harmed: bool | None) -> bool | None:
    """A near miss is never harmed: left out, it is recorded as unharmed (the contract's four-field
    report); left out of any other report, it stays unknown."""
    return False if near_miss and harmed is None else harmed


def _check_flags(*, near_miss: bool, harmed: bool | None) -> None:
    if near_miss and harmed:
        message = "A near miss caused no harm: report it as harmed or as a near miss, not both."
        raise ValidationFailed(message, {"near_miss": [message], "harmed": [message]})


def _clean(address: str | None) -> str | None:
    # Line breaks stay: they separate address parts, as commas do.
    if address is None or not address.strip():
        return None
    return address.strip()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if hasattr(value, "value") else value
