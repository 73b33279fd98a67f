"""What the manager's live board shows: open alarms most urgent first, then the team's visits.

A read model over alarms, the outbox and visits, in the reach of the person looking (the same
`visible_alarms` and `visible_visits` as the API), so a page only renders it. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from safetycheck.accounts import rota
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import bundling, call_outbox
from safetycheck.escalation.alarms import ACTIVE_STATUSES
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit

# Someone may be under attack: panic and duress come before an overdue check-out, which is
# more often a forgotten one; an incident nobody acknowledged comes last.
KIND_URGENCY = {AlarmKind.DURESS: 0, AlarmKind.PANIC: 0, AlarmKind.OVERDUE: 1, AlarmKind.INCIDENT: 2}


@dataclass(frozen=True)
class Texted:
    """One person an alarm's ladder texted, and what became of it."""

    name: str
    user_id: int | None
    status: OutboxStatus  # of the latest escalation text to them
    first_texted_at: datetime
    texts: int
    took_charge: bool  # they answered by taking charge (by text, on the board or in the app)


@dataclass(frozen=True)
class AlarmCard:
    alarm: Alarm
    practitioner_name: str
    address: str | None  # None: no visit in progress
    lat: float | None
    lon: float | None
    located_at: datetime | None
    acknowledged_by_name: str | None
    resolved_by_name: str | None
    texted: list[Texted] = field(default_factory=list)

    @property
    def map_url(self) -> str | None:
        """OpenStreetMap at the last location: a link, never embedded tiles (no third-party
        requests from the page, and the CSP allows none)."""
        if self.lat is None or self.lon is None:
            return None
        return (
            f"https://www.openstreetmap.org/?mlat={self.lat:.5f}&mlon={self.lon:.5f}"
            f"#map=17/{self.lat:.5f}/{self.lon:.5f}"
        )

    @property
    def needs_someone(self) -> bool:
        return self.alarm.status == AlarmStatus.OPEN


@dataclass(frozen=True)
class VisitRow:
    visit: Visit
    practitioner_name: str
    alarm: Alarm | None = None  # the open alarm of an overdue visit


@dataclass(frozen=True)
class Board:
    alarms: list[AlarmCard]
    overdue: list[VisitRow]
    active: list[VisitRow]
    completed_today: list[VisitRow]

    @property
    def unacknowledged(self) -> int:
        """Alarms nobody has taken charge of yet: the number in the page title."""
        return sum(1 for card in self.alarms if card.needs_someone)


def urgency(alarm: Alarm) -> tuple[int, int, datetime, int]:
    """Sort key: nobody in charge first, then panic and duress before overdue, then the oldest."""
    return (
        0 if alarm.status == AlarmStatus.OPEN else 1,
        KIND_URGENCY.get(alarm.kind, 3),
        alarm.raised_at,
        alarm.id,
    )


def board_for(user: User, *, now: datetime, tz: ZoneInfo) -> Board:
    """Everything on the board for this user, as of `now` (today is the day in `tz`)."""
    alarms = sorted(
        db.session.scalars(alarm_service.visible_alarms(user).where(Alarm.status.in_(ACTIVE_STATUSES))),
        key=urgency,
    )
    visits = visit_service.visible_visits(user)
    current = list(
        db.session.scalars(
            visits.where(Visit.status.in_((VisitStatus.ACTIVE, VisitStatus.OVERDUE))).order_by(
                Visit.due_at, Visit.id
            )
        )
    )
    start_of_day = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    completed = list(
        db.session.scalars(
            visits.where(
                Visit.status == VisitStatus.COMPLETED,
                Visit.checked_out_at >= start_of_day,
                Visit.checked_out_at < start_of_day + timedelta(days=1),
            ).order_by(Visit.checked_out_at.desc(), Visit.id.desc())
        )
    )
    names = _names({a.practitioner_id for a in alarms} | {v.practitioner_id for v in current + completed})
    alarm_of_visit = {a.visit_id: a for a in alarms if a.visit_id is not None and a.kind == AlarmKind.OVERDUE}
    return Board(
        alarms=[card(a) for a in alarms],
        overdue=[
            VisitRow(v, names.get(v.practitioner_id, ""), alarm_of_visit.get(v.id))
            for v in current
            if v.status == VisitStatus.OVERDUE
        ],
        active=[
            VisitRow(v, names.get(v.practitioner_id, "")) for v in current if v.status == VisitStatus.ACTIVE
        ],
        completed_today=[VisitRow(v, names.get(v.practitioner_id, "")) for v in completed],
    )


def card(alarm: Alarm) -> AlarmCard:
    """One alarm as the board shows it: who, where, last location, who was texted and answered."""
    visit = db.session.get(Visit, alarm.visit_id) if alarm.visit_id is not None else None
    lat, lon, located_at = alarm.lat, alarm.lon, alarm.raised_at if alarm.lat is not None else None
    if visit is not None and visit.last_lat is not None and visit.last_lon is not None:
        if located_at is None or (visit.last_located_at and visit.last_located_at >= located_at):
            lat, lon, located_at = visit.last_lat, visit.last_lon, visit.last_located_at
    names = _names({i for i in (alarm.practitioner_id, alarm.acknowledged_by, alarm.resolved_by) if i})
    return AlarmCard(
        alarm=alarm,
        practitioner_name=names.get(alarm.practitioner_id, ""),
        address=visit.address if visit is not None else None,
        lat=lat,
        lon=lon,
        located_at=located_at,
        acknowledged_by_name=names.get(alarm.acknowledged_by) if alarm.acknowledged_by else None,
        resolved_by_name=names.get(alarm.resolved_by) if alarm.resolved_by else None,
        texted=texted(alarm),
    )


def texted(alarm: Alarm) -> list[Texted]:
    """The people the ladder texted, in the order first texted, each with their latest text's status."""
    messages = list(
        db.session.scalars(
            sa.select(OutboxMessage)
            # Alone or bundled: a bundle's status is every alarm's it carried.
            .where(bundling.texts_for(alarm.id), OutboxMessage.purpose == MessagePurpose.ESCALATION)
            .order_by(OutboxMessage.id)
        )
    )
    names = _names({m.recipient_id for m in messages if m.recipient_id is not None})
    people: dict[int | str, Texted] = {}
    for message in messages:
        key: int | str = message.recipient_id if message.recipient_id is not None else message.to_phone
        earlier = people.get(key)
        people[key] = Texted(
            name=names.get(message.recipient_id, message.to_phone)
            if message.recipient_id
            else message.to_phone,
            user_id=message.recipient_id,
            status=message.status,
            first_texted_at=earlier.first_texted_at if earlier else message.created_at,
            texts=(earlier.texts if earlier else 0) + 1,
            took_charge=message.recipient_id is not None and message.recipient_id == alarm.acknowledged_by,
        )
    return list(people.values())


def names_of(user_ids: set[int]) -> dict[int, str]:
    """Names for ids, in one query (recipients of texts, who took charge)."""
    return _names(user_ids)


def _names(user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = db.session.execute(sa.select(User.id, User.name).where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


# --- calls (issue 13): listed beside the texts on the alarm's page ------------------------------

CALL_OUTCOME_WORDS = {
    "acknowledged": "pressed 1: took charge",
    "other_key": "answered, pressed another key",
    "no_keypress": "answered, no key pressed",
    "voicemail": "voicemail",
    "no_answer": "no answer",
    "busy": "busy",
    "failed": "could not be placed",
    "canceled": "cancelled",
}


@dataclass(frozen=True)
class CallLine:
    """One escalation call as the alarm's page lists it."""

    call_id: int
    name: str
    state: str  # what happened so far, in words
    at: datetime


def calls_of(alarm: Alarm) -> list[CallLine]:
    """Every call decided for this alarm, oldest first, with what became of it."""
    rows = call_outbox.calls_of(alarm.id)
    names = _names({r.recipient_id for r in rows if r.recipient_id is not None})
    lines = []
    for row in rows:
        if row.outcome is not None:
            state = CALL_OUTCOME_WORDS.get(row.outcome, str(row.outcome))
        elif row.status == OutboxStatus.SENT:
            state = "answered" if row.answered_at else "ringing" if row.ringing_at else "placed"
        else:
            waiting = {"pending": "waiting", "sending": "placing", "cancelled": "not needed"}
            state = waiting.get(row.status, row.status)
        lines.append(
            CallLine(
                call_id=row.id,
                name=names.get(row.recipient_id, row.to_phone) if row.recipient_id else row.to_phone,
                state=state,
                at=row.ended_at or row.answered_at or row.sent_at or row.created_at,
            )
        )
    return lines


@dataclass(frozen=True)
class OnCallCover:
    """Who is on call for one team now, and who comes on next and when (for the board)."""

    team_name: str
    current: list[User]
    next_people: list[User] | None
    next_at: datetime | None


def on_call_cover(user: User, *, now: datetime) -> list[OnCallCover]:
    """The cover of the viewer's team (a manager), or of every team (admins, health and safety leads)."""
    if user.role == Role.MANAGER:
        teams = [user.team] if user.team is not None else []
    else:
        teams = list(db.session.scalars(sa.select(Team).order_by(Team.name)))
    cover = []
    for team in teams:
        coming = rota.next_on_call(now, team_id=team.id)
        cover.append(
            OnCallCover(
                team_name=team.name,
                current=rota.on_call_at(now, team_id=team.id),
                next_people=coming[0] if coming else None,
                next_at=coming[1] if coming else None,
            )
        )
    return cover
