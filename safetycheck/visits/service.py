"""Check-in, extend, check-out and location for visits. Services flush; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.db import insert_unless_taken
from safetycheck.errors import Conflict, Forbidden, NotFound, ValidationFailed
from safetycheck.extensions import db
from safetycheck.timeline import service as timeline
from safetycheck.visits import events
from safetycheck.visits.enums import CURRENT_STATUSES, CheckoutOutcome, VisitStatus
from safetycheck.visits.events import Location as Location  # re-exported: callers build one
from safetycheck.visits.models import Visit


@dataclass(frozen=True)
class CheckIn:
    visit: Visit
    replayed: bool  # True when an Idempotency-Key matched an earlier check-in


@dataclass(frozen=True)
class CheckOut:
    visit: Visit
    duress: bool  # never shown to the practitioner; the API answers exactly as for a safe check-out


def visible_visits(user: User) -> sa.Select[Visit]:
    """Visits in the user's reach: practitioners their own, managers their team, leads and admins all."""
    query = sa.select(Visit)
    if user.role == Role.PRACTITIONER:
        return query.where(sa.or_(Visit.practitioner_id == user.id, Visit.companion_id == user.id))
    if user.role == Role.MANAGER:
        return query.where(Visit.team_id == user.team_id)
    return query


def get_visit(user: User, visit_id: int) -> Visit:
    visit = db.session.scalar(visible_visits(user).where(Visit.id == visit_id))
    if visit is None:
        raise NotFound("Visit not found.")
    return visit


def current_visit(practitioner_id: int) -> Visit | None:
    return db.session.scalar(
        sa.select(Visit).where(Visit.practitioner_id == practitioner_id, Visit.status.in_(CURRENT_STATUSES))
    )


def check_in(
    practitioner: User,
    *,
    address: str,
    now: datetime,
    max_minutes: int,
    duration_minutes: int | None = None,
    expected_end: datetime | None = None,
    case_ref: str | None = None,
    companion_id: int | None = None,
    notes: str | None = None,
    location: Location | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> CheckIn:
    """Start a visit; a retried request with the same Idempotency-Key returns the first visit.

    `request_fingerprint` identifies the request that came with the key (the API hashes its
    body): the same key with a different request is refused rather than answered with a visit
    the phone did not ask for, perhaps one long completed, with no timer running.
    """
    if practitioner.role != Role.PRACTITIONER:
        raise Forbidden("Only practitioners check in to visits.")
    # One round trip answers both questions: is this a retry, and is a visit already open?
    keyed, active = _keyed_and_current_visit(practitioner.id, idempotency_key)
    if keyed is not None:
        return _replay(keyed, request_fingerprint, address)
    due_at = _due_at(now, duration_minutes, expected_end, max_minutes)
    if companion_id is not None:
        _check_companion(practitioner, companion_id)
    if active is not None:
        raise Conflict(
            f"You are already checked in to visit {active.id}; check out of it first.",
            {"active_visit_id": [str(active.id)]},
        )
    assessment = events.assess_check_in.ask(
        events.CheckInRequest(address=address, practitioner=practitioner, companion_id=companion_id, now=now)
    )
    if assessment.refusal is not None:
        raise Conflict(assessment.refusal, {"address": [assessment.refusal]})
    values: dict[str, Any] = {
        "practitioner_id": practitioner.id,
        "team_id": practitioner.team_id,
        "status": VisitStatus.ACTIVE,
        "address": address.strip(),
        "case_ref": case_ref,
        "companion_id": companion_id,
        "notes": notes,
        "checked_in_at": now,
        "due_at": due_at,
        "warnings": assessment.warnings,
        "idempotency_key": idempotency_key,
        "idempotency_fingerprint": request_fingerprint if idempotency_key else None,
    }
    if location is not None:
        values.update(_location_values(location, now))
    # One statement: a unique key taken (a retry of the same request, or a second check-in,
    # racing this one) inserts nothing and leaves the transaction usable. It was a savepoint
    # around the ORM's insert: two of a check-in's eleven round trips (docs/benchmarks.md, P4).
    visit: Visit | None = insert_unless_taken(db.session, Visit, values)
    if visit is None:
        if idempotency_key and (earlier := _visit_by_key(practitioner.id, idempotency_key)):
            return _replay(earlier, request_fingerprint, address)
        raise Conflict("You are already checked in to a visit; check out of it first.")
    events.check_in_accepted.announce(events.CheckInAccepted(visit=visit, assessment=assessment, now=now))
    timeline.record(
        "visit",
        visit.id,
        "checked_in",
        at=now,
        actor_id=practitioner.id,
        due_at=due_at.isoformat(),
        address=visit.address,
        warnings=len(assessment.warnings),
    )
    return CheckIn(visit=visit, replayed=False)


def extend(
    practitioner: User,
    visit_id: int,
    *,
    minutes: int,
    now: datetime,
    max_minutes: int,
    max_total_minutes: int,
) -> Visit:
    """Push the due time back; an overdue visit is extended from now and its alarm stands down.

    One extension is at most `max_minutes`, and the whole visit, check-in to due time, at most
    `max_total_minutes`: repeated extensions must not stretch a visit into a second day.
    """
    visit = _own_current_visit(practitioner, visit_id)
    if not 1 <= minutes <= max_minutes:
        raise ValidationFailed("Invalid extension.", {"minutes": [f"Must be 1 to {max_minutes}."]})
    left = minutes_left(visit, now=now, max_total_minutes=max_total_minutes)
    if minutes > left:
        limit = visit_limit(max_total_minutes)
        if left < 1:
            message = (
                f"This visit has reached the longest a visit may last, {limit} from check-in: "
                "check out, and check in again if you are staying."
            )
        else:
            message = (
                f"A visit may last at most {limit} from check-in: at most {left} more minutes can be added."
            )
        raise ValidationFailed(message, {"minutes": [message]})
    was_overdue = visit.status == VisitStatus.OVERDUE
    base = _extension_base(visit, now)
    previous_due = visit.due_at
    visit.due_at = base + timedelta(minutes=minutes)
    visit.status = VisitStatus.ACTIVE
    visit.reminded_at = None  # a new due time deserves its own reminder
    db.session.flush()
    timeline.record(
        "visit",
        visit.id,
        "extended",
        at=now,
        actor_id=practitioner.id,
        minutes=minutes,
        previous_due_at=previous_due.isoformat(),
        due_at=visit.due_at.isoformat(),
    )
    if was_overdue:
        events.overdue_visit_extended.announce(
            events.OverdueVisitExtended(visit=visit, minutes=minutes, actor_id=practitioner.id, now=now)
        )
    return visit


def check_out(
    practitioner: User,
    visit_id: int,
    *,
    now: datetime,
    pin: str | None = None,
    outcome: CheckoutOutcome | None = None,
) -> CheckOut:
    """End a visit. The duress PIN completes it exactly like a normal check-out but raises an alarm."""
    visit = _own_current_visit(practitioner, visit_id)
    duress = bool(pin) and account_service.is_duress_pin(practitioner, pin or "")
    late = visit.status == VisitStatus.OVERDUE
    last_location = (
        Location(visit.last_lat, visit.last_lon, visit.last_accuracy_m)
        if visit.last_lat is not None and visit.last_lon is not None
        else None
    )
    visit.status = VisitStatus.COMPLETED
    visit.checked_out_at = now
    visit.outcome = outcome or CheckoutOutcome.SAFE
    visit.last_lat = visit.last_lon = visit.last_accuracy_m = None  # tracking ends with the visit
    db.session.flush()
    timeline.record(
        "visit",
        visit.id,
        "checked_out",
        at=now,
        actor_id=practitioner.id,
        outcome=str(visit.outcome),
        late=late,
    )
    if duress:
        timeline.record(
            "visit", visit.id, "duress_pin_used", at=now, actor_id=practitioner.id, restricted=True
        )
    events.visit_checked_out.announce(
        events.VisitCheckedOut(
            visit=visit,
            practitioner=practitioner,
            late=late,
            duress=duress,
            last_location=last_location,
            now=now,
        )
    )
    return CheckOut(visit=visit, duress=duress)


def minutes_left(visit: Visit, *, now: datetime, max_total_minutes: int) -> int:
    """Whole minutes an extension may still add before the visit reaches its longest (may be <= 0)."""
    ceiling = visit.checked_in_at + timedelta(minutes=max_total_minutes)
    return int((ceiling - _extension_base(visit, now)).total_seconds() // 60)


def visit_limit(max_total_minutes: int) -> str:
    """ "720 minutes (12 hours)": the longest visit, in words for a message or a text."""
    hours, rest = divmod(max_total_minutes, 60)
    if hours and not rest:
        return f"{max_total_minutes} minutes ({hours} hour{'s' if hours != 1 else ''})"
    return f"{max_total_minutes} minutes"


def _extension_base(visit: Visit, now: datetime) -> datetime:
    # An overdue visit is extended from now; otherwise from its due time (or now, if that passed).
    return now if visit.status == VisitStatus.OVERDUE else max(visit.due_at, now)


def record_location(practitioner: User, visit_id: int, *, location: Location, now: datetime) -> Visit:
    visit = _own_current_visit(practitioner, visit_id)
    _set_location(visit, location, now)
    db.session.flush()
    return visit


def timeline_for(user: User, visit: Visit) -> list[dict[str, Any]]:
    """The visit's timeline as the user may see it (restricted entries hidden from the practitioner)."""
    include_restricted = user.role != Role.PRACTITIONER
    return [
        {"event": e.event, "at": e.at, "actor_id": e.actor_id, "details": e.details}
        for e in timeline.entries_for("visit", visit.id, include_restricted=include_restricted)
    ]


def _own_current_visit(practitioner: User, visit_id: int) -> Visit:
    visit = get_visit(practitioner, visit_id)
    if visit.practitioner_id != practitioner.id:
        raise Forbidden("Only the practitioner on the visit can do this.")
    if not visit.is_current:
        raise Conflict("This visit is already checked out.", {"status": [str(visit.status)]})
    return visit


def _replay(earlier: Visit, fingerprint: str | None, address: str) -> CheckIn:
    """The first visit for a retry of its request; 422 for another request under the same key."""
    if earlier.idempotency_fingerprint is not None and fingerprint is not None:
        same = earlier.idempotency_fingerprint == fingerprint
    else:  # stored before fingerprints were kept: the address is what any check-in names
        same = earlier.address == address.strip()
    if not same:
        raise ValidationFailed(
            "This Idempotency-Key was already used for a different check-in request; "
            "send a new Idempotency-Key for a new check-in.",
            {"Idempotency-Key": ["Already used with a different request body."]},
        )
    return CheckIn(visit=earlier, replayed=True)


def _keyed_and_current_visit(practitioner_id: int, key: str | None) -> tuple[Visit | None, Visit | None]:
    """The practitioner's visit under this Idempotency-Key and their current visit (one query)."""
    condition: sa.ColumnElement[bool] = Visit.status.in_(CURRENT_STATUSES)
    if key:
        condition = sa.or_(condition, Visit.idempotency_key == key)
    found = db.session.scalars(
        sa.select(Visit).where(Visit.practitioner_id == practitioner_id, condition)
    ).all()
    keyed = next((v for v in found if key and v.idempotency_key == key), None)
    return keyed, next((v for v in found if v.is_current), None)


def _visit_by_key(practitioner_id: int, key: str) -> Visit | None:
    return db.session.scalar(
        sa.select(Visit).where(Visit.practitioner_id == practitioner_id, Visit.idempotency_key == key)
    )


def _due_at(
    now: datetime, duration_minutes: int | None, expected_end: datetime | None, max_minutes: int
) -> datetime:
    if (duration_minutes is None) == (expected_end is None):
        message = "Give exactly one of duration_minutes and expected_end."
        raise ValidationFailed(message, {"duration_minutes": [message], "expected_end": [message]})
    if duration_minutes is not None:
        if not 1 <= duration_minutes <= max_minutes:
            raise ValidationFailed(
                "Invalid duration.", {"duration_minutes": [f"Must be 1 to {max_minutes} minutes."]}
            )
        return now + timedelta(minutes=duration_minutes)
    assert expected_end is not None
    if expected_end.tzinfo is None:
        raise ValidationFailed("Invalid time.", {"expected_end": ["Must carry a UTC offset."]})
    if expected_end < now + timedelta(minutes=1):
        # The same floor as duration_minutes (at least 1): a due time seconds away is no visit.
        raise ValidationFailed(
            "Invalid time.",
            {"expected_end": ["Must be at least one minute from now (as duration_minutes >= 1)."]},
        )
    if expected_end > now + timedelta(minutes=max_minutes):
        raise ValidationFailed(
            "Invalid time.", {"expected_end": [f"Must be at most {max_minutes} minutes from now."]}
        )
    return expected_end


def _check_companion(practitioner: User, companion_id: int) -> None:
    companion = db.session.get(User, companion_id)
    if (
        companion is None
        or companion_id == practitioner.id
        or not companion.active
        or companion.team_id != practitioner.team_id
    ):
        raise ValidationFailed(
            "Unknown companion.", {"companion_id": ["Must be another active member of your team."]}
        )


def _location_values(location: Location, now: datetime) -> dict[str, Any]:
    """The visit's last position and its time, always written together."""
    return {
        "last_lat": location.lat,
        "last_lon": location.lon,
        "last_accuracy_m": location.accuracy_m,
        "last_located_at": now,
    }


def _set_location(visit: Visit, location: Location, now: datetime) -> None:
    for name, value in _location_values(location, now).items():
        setattr(visit, name, value)


def close_by_manager(visit_id: int, *, actor_id: int, now: datetime) -> None:
    """A manager resolved the overdue alarm: the visit, if still open, ends here."""
    visit = db.session.get(Visit, visit_id, with_for_update={"of": Visit})
    if visit is not None and visit.is_current:
        visit.status = VisitStatus.COMPLETED
        visit.checked_out_at = now
        visit.last_lat = visit.last_lon = visit.last_accuracy_m = None
        timeline.record("visit", visit.id, "closed_by_manager", at=now, actor_id=actor_id)
