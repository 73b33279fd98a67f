"""Household warning markers: proposed from an incident, approved by a second person, reviewed.

A marker stigmatises a family, so it is only ever made from a reported incident, in factual
words, with the evidence linked, approved by someone other than the proposer, and for at most
twelve months unless a new incident renews it. Which incidents may serve as evidence is the
incident procedure's to judge (`incidents/marker_proposals.py`, which calls `propose` and
`renew` here with a function that vets them). Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import Conflict, Forbidden, NotFound, ValidationFailed
from safetycheck.extensions import db
from safetycheck.households.enums import MarkerControl, MarkerStatus
from safetycheck.households.models import Household, Marker, MarkerEvidence
from safetycheck.localtime import add_months
from safetycheck.timeline import service as timeline

SelectT = TypeVar("SelectT", bound=sa.Select[Any])

MAX_REVIEW_MONTHS = 12
DEFAULT_REVIEW_MONTHS = 6
# Owners see a marker as due for review this long before its review date.
REVIEW_NOTICE = timedelta(days=30)


def active_markers(household_id: int, *, now: datetime) -> list[Marker]:
    """Markers in force now: approved and not past review (even if the expiry job has not run)."""
    return list(
        db.session.scalars(
            sa.select(Marker)
            .where(
                Marker.household_id == household_id,
                Marker.status == MarkerStatus.ACTIVE,
                Marker.review_at > now,
            )
            .order_by(Marker.id)
        )
    )


def household_with_active_markers(key: str, *, now: datetime) -> tuple[Household | None, list[Marker]]:
    """The household with this address key and its markers in force now, in one round trip.

    Check-in asks both on every request: one query (the household, outer-joined to its active
    markers) instead of two. The markers are those `active_markers` gives, in the same order.
    """
    rows = db.session.execute(
        sa.select(Household, Marker)
        .outerjoin(
            Marker,
            sa.and_(
                Marker.household_id == Household.id,
                Marker.status == MarkerStatus.ACTIVE,
                Marker.review_at > now,
            ),
        )
        .where(Household.key == key)
        .options(contains_eager(Marker.household))
        .order_by(Marker.id)
    ).all()
    if not rows:
        return None, []
    return rows[0][0], [marker for _, marker in rows if marker is not None]


def had_marker_in_force(household_id: int, *, at: datetime) -> bool:
    """Whether an approved marker was in force at the household at that moment."""
    return (
        db.session.scalar(
            sa.select(Marker.id)
            .where(
                Marker.household_id == household_id,
                Marker.decided_at <= at,
                Marker.review_at > at,
                Marker.status.in_((MarkerStatus.ACTIVE, MarkerStatus.EXPIRED, MarkerStatus.WITHDRAWN)),
                sa.or_(Marker.ended_at.is_(None), Marker.ended_at > at),
            )
            .limit(1)
        )
        is not None
    )


def warning(marker: Marker) -> dict[str, Any]:
    """What a practitioner sees at check-in (kept on the visit as shown)."""
    return {
        "marker_id": marker.id,
        "controls": list(marker.controls),
        "reason": marker.reason,
        "review_at": marker.review_at.isoformat(),
    }


def visible_markers(user: User) -> sa.Select[Marker]:
    """Leads and admins see every marker, managers their team's; practitioners see warnings only."""
    query = sa.select(Marker)
    if user.role in (Role.HS_LEAD, Role.ADMIN):
        return query
    if user.role == Role.MANAGER and user.team_id is not None:
        return query.where(Marker.team_id == user.team_id)
    return query.where(sa.false())


class MarkerDetail:
    """A marker with the ids of the incidents it rests on; reads through to the marker."""

    def __init__(self, marker: Marker, evidence_incident_ids: list[int]) -> None:
        self.marker = marker
        self.evidence_incident_ids = evidence_incident_ids

    def __getattr__(self, name: str) -> Any:
        return getattr(self.marker, name)


def marker_detail(marker: Marker) -> MarkerDetail:
    return MarkerDetail(marker, evidence_ids(marker.id))


def find_markers(
    user: User,
    *,
    now: datetime,
    status: Iterable[MarkerStatus] | None = None,
    household_id: int | None = None,
    team_id: int | None = None,
    review_due: bool | None = None,
) -> sa.Select[Marker]:
    """Markers in reach, filtered, in review order; `review_due`: within REVIEW_NOTICE of review."""
    query = visible_markers(user)
    if status:
        query = query.where(Marker.status.in_(list(status)))
    if household_id is not None:
        query = query.where(Marker.household_id == household_id)
    if team_id is not None:
        query = query.where(Marker.team_id == team_id)
    if review_due is True:
        query = due_for_review(query, now=now)
    elif review_due is False:
        query = query.where(sa.not_(Marker.id.in_(due_for_review(sa.select(Marker.id), now=now))))
    return query.order_by(Marker.review_at, Marker.id)


def get_marker(user: User, marker_id: int, *, for_update: bool = False) -> Marker:
    query = visible_markers(user).where(Marker.id == marker_id)
    if for_update:
        query = query.with_for_update(of=Marker)
    marker = db.session.scalar(query)
    if marker is None:
        raise NotFound("Marker not found.")
    return marker


def due_for_review(query: SelectT, *, now: datetime) -> SelectT:
    return query.where(Marker.status == MarkerStatus.ACTIVE, Marker.review_at <= now + REVIEW_NOTICE)


def evidence_ids(marker_id: int) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(MarkerEvidence.incident_id)
            .where(MarkerEvidence.marker_id == marker_id)
            .order_by(MarkerEvidence.incident_id)
        )
    )


def markers_for_incident(incident_id: int) -> list[int]:
    """Markers proposed from this incident or resting on it as evidence."""
    return list(
        db.session.scalars(
            sa.select(MarkerEvidence.marker_id)
            .where(MarkerEvidence.incident_id == incident_id)
            .order_by(MarkerEvidence.marker_id)
        )
    )


def propose(
    actor: User,
    *,
    household_id: int,
    team_id: int | None,
    incident_id: int,
    reason: str,
    controls: Iterable[MarkerControl],
    now: datetime,
    review_at: datetime | None,
    vet_evidence: Callable[[], list[int]],
) -> Marker:
    """Propose a marker on a household from an incident; it does nothing until a second person approves.

    `vet_evidence` returns the ids of the incidents it rests on (the proposing one first), or
    raises naming the field; it is called after the reason and review date are checked.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("A reason is required.", {"reason": ["Give the facts the marker rests on."]})
    review_at = _checked_review_at(review_at or add_months(now, DEFAULT_REVIEW_MONTHS), now=now)
    evidence = vet_evidence()
    marker = Marker(
        household_id=household_id,
        status=MarkerStatus.PROPOSED,
        reason=reason,
        controls=_controls(controls),
        team_id=team_id,
        incident_id=incident_id,
        proposed_by=actor.id,
        proposed_at=now,
        review_at=review_at,
    )
    db.session.add(marker)
    db.session.flush()
    for evidence_id in evidence:
        db.session.add(
            MarkerEvidence(marker_id=marker.id, incident_id=evidence_id, added_at=now, added_by=actor.id)
        )
    db.session.flush()
    details: dict[str, Any] = {
        "controls": marker.controls,
        "review_at": review_at.isoformat(),
        "evidence": evidence,
    }
    timeline.record("marker", marker.id, "proposed", at=now, actor_id=actor.id, reason=reason, **details)
    timeline.record(
        "incident", incident_id, "marker_proposed", at=now, actor_id=actor.id, marker_id=marker.id
    )
    timeline.record(
        "household", marker.household_id, "marker_proposed", at=now, actor_id=actor.id, marker_id=marker.id
    )
    return marker


def approve(actor: User, marker: Marker, *, now: datetime, note: str | None = None) -> Marker:
    """Bring a proposed marker into force; the proposer can never approve their own."""
    _require_decider(actor, marker, "approve")
    if marker.status != MarkerStatus.PROPOSED:
        raise Conflict(f"Only a proposed marker can be approved; this one is {marker.status}.")
    if marker.review_at <= now:
        raise Conflict("The marker's review date has passed; propose it again with a new date.")
    marker.status = MarkerStatus.ACTIVE
    marker.decided_by, marker.decided_at, marker.decision_note = actor.id, now, note
    db.session.flush()
    timeline.record("marker", marker.id, "approved", at=now, actor_id=actor.id, note=note)
    timeline.record(
        "household", marker.household_id, "marker_active", at=now, actor_id=actor.id, marker_id=marker.id
    )
    return marker


def reject(actor: User, marker: Marker, *, now: datetime, note: str) -> Marker:
    _require_decider(actor, marker, "reject")
    if marker.status != MarkerStatus.PROPOSED:
        raise Conflict(f"Only a proposed marker can be rejected; this one is {marker.status}.")
    marker.status = MarkerStatus.REJECTED
    marker.decided_by, marker.decided_at, marker.decision_note = actor.id, now, note
    db.session.flush()
    timeline.record("marker", marker.id, "rejected", at=now, actor_id=actor.id, note=note)
    return marker


def withdraw(actor: User, marker: Marker, *, now: datetime, reason: str) -> Marker:
    """End a marker that is no longer needed (the family moved, the risk has gone)."""
    _require_owner(actor, marker, "withdraw")
    if marker.status not in (MarkerStatus.PROPOSED, MarkerStatus.ACTIVE):
        raise Conflict(f"This marker is already {marker.status}.")
    marker.status = MarkerStatus.WITHDRAWN
    marker.ended_at, marker.ended_by = now, actor.id
    db.session.flush()
    timeline.record("marker", marker.id, "withdrawn", at=now, actor_id=actor.id, reason=reason)
    timeline.record(
        "household", marker.household_id, "marker_ended", at=now, actor_id=actor.id, marker_id=marker.id
    )
    return marker


def renew(
    actor: User,
    marker: Marker,
    *,
    now: datetime,
    vet_incident: Callable[[], int],
    review_at: datetime | None = None,
    note: str | None = None,
) -> Marker:
    """Keep an active marker beyond its review date; only a new incident at the household justifies it.

    `vet_incident` returns the id of that incident, or raises naming the field.
    """
    _require_owner(actor, marker, "renew")
    if marker.status != MarkerStatus.ACTIVE or marker.review_at <= now:
        raise Conflict("Only a marker in force can be renewed; propose a new one instead.")
    incident_id = vet_incident()
    if incident_id in evidence_ids(marker.id):
        raise ValidationFailed(
            "That incident is already evidence for this marker.",
            {"incident_id": ["A renewal needs a new incident at the household."]},
        )
    previous = marker.review_at
    marker.review_at = _checked_review_at(review_at or add_months(now, MAX_REVIEW_MONTHS), now=now)
    marker.renewed_at = now
    marker.review_notified_at = None
    db.session.add(
        MarkerEvidence(marker_id=marker.id, incident_id=incident_id, added_at=now, added_by=actor.id)
    )
    db.session.flush()
    timeline.record(
        "marker",
        marker.id,
        "renewed",
        at=now,
        actor_id=actor.id,
        incident_id=incident_id,
        previous_review_at=previous.isoformat(),
        review_at=marker.review_at.isoformat(),
        note=note,
    )
    return marker


def expire(marker: Marker, *, now: datetime) -> None:
    marker.status = MarkerStatus.EXPIRED
    marker.ended_at = now
    timeline.record("marker", marker.id, "expired", at=now, review_at=marker.review_at.isoformat())
    timeline.record("household", marker.household_id, "marker_ended", at=now, marker_id=marker.id)


def _checked_review_at(review_at: datetime, *, now: datetime) -> datetime:
    latest = add_months(now, MAX_REVIEW_MONTHS)
    if review_at <= now:
        raise ValidationFailed("Invalid review date.", {"review_at": ["Must lie in the future."]})
    if review_at > latest:
        raise ValidationFailed(
            "Invalid review date.",
            {
                "review_at": [
                    f"Must be at most {MAX_REVIEW_MONTHS} months ahead ({latest.date().isoformat()})."
                ]
            },
        )
    return review_at


def _controls(controls: Iterable[MarkerControl]) -> list[str]:
    # Kept in a stable order without repeats, so two markers' controls compare equal.
    chosen = {MarkerControl(c) for c in controls}
    return [c.value for c in MarkerControl if c in chosen]


def _require_decider(actor: User, marker: Marker, verb: str) -> None:
    if marker.proposed_by == actor.id:
        raise Forbidden(f"A marker needs a second person: you proposed it, so you cannot {verb} it.")
    _require_owner(actor, marker, verb)


def _require_owner(actor: User, marker: Marker, verb: str) -> None:
    manager = actor.role == Role.MANAGER and actor.team_id is not None and actor.team_id == marker.team_id
    if not (manager or actor.role in (Role.HS_LEAD, Role.ADMIN)):
        raise Forbidden(f"Only the team's managers or a health-and-safety lead can {verb} a marker.")
