"""A few months of demo history for the register and its summary (`safetycheck demo --with-incidents`).

Reported through the real services at the times they happened, so the register, the charts and
the deadlines are what real use would produce. The texts those reports queued are long past:
they are cancelled, and past reminders dropped, rather than sent when the demo starts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmOutcome, AlarmStatus, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.incidents import procedure
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import Harm, IncidentCategory, InvestigationLevel, NearMissKind
from safetycheck.incidents.models import Incident, IncidentAction, IncidentSupport
from safetycheck.visits import service as visit_service

ELM_ROAD = "14 Elm Road, Leeds LS6 2QT"
MILL_LANE = "3 Mill Lane, Leeds LS12 4HB"
ADDRESSES = [ELM_ROAD, MILL_LANE, "27 Ash Grove, Leeds LS6 1BU", "9 Station Road, Leeds LS15 8AP"]

C = IncidentCategory
# (days ago, reporter, category, near-miss kind or None, harmed, hours to report, address, what happened)
HISTORY: list[tuple[int, str, IncidentCategory, NearMissKind | None, bool, float, str, str]] = [
    (150, "priya", C.VERBAL_ABUSE, None, False, 2, ELM_ROAD, "Shouted at and sworn at on the doorstep."),
    (130, "sam", C.ANIMAL, NearMissKind.DID_NOT_ENTER, False, 0.5, MILL_LANE, "Loose dog in the hall."),
    (110, "priya", C.THREAT, None, False, 30, ELM_ROAD, "Told not to come back or else."),
    (95, "sam", C.HARASSMENT, None, False, 5, ADDRESSES[2], "Followed to the car."),
    (80, "priya", C.VERBAL_ABUSE, None, False, 1.5, ADDRESSES[3], "Abusive phone call after the visit."),
    (62, "sam", C.OTHER, NearMissKind.LEFT_EARLY, False, 0.2, ELM_ROAD, "Several men arrived; left early."),
    (45, "priya", C.PROPERTY_DAMAGE, None, False, 100, MILL_LANE, "Car window smashed outside."),
    (
        30,
        "sam",
        C.THREAT,
        NearMissKind.ASKED_FOR_JOINT_VISIT,
        False,
        3,
        ELM_ROAD,
        "Threats on the phone.",
    ),
    (12, "priya", C.PHYSICAL_ASSAULT, None, True, 4, ELM_ROAD, "Pushed against the door frame."),
    (6, "sam", C.VERBAL_ABUSE, None, False, 200, MILL_LANE, "Racist abuse from a neighbour."),
    (2, "priya", C.ANIMAL, NearMissKind.DID_NOT_ENTER, False, 1, ADDRESSES[3], "Aggressive dog at the gate."),
]


def seed(*, now: datetime, people: dict[str, User], manager: User) -> int:
    """Visits and incidents over the last five months; the serious one acknowledged and triaged."""
    for name in ("priya", "sam"):
        _visits(people[name], now=now)
    incidents: list[Incident] = []
    for days, who, category, kind, harmed, lag, address, text in HISTORY:
        occurred = now - timedelta(days=days, hours=3)
        incidents.append(
            incident_service.report(
                people[who],
                occurred_at=occurred,
                category=category,
                description=text,
                near_miss=kind is not None,
                near_miss_kind=kind,
                harmed=harmed,
                address=address,
                now=min(occurred + timedelta(hours=lag), now),
            )
        )
    # The older reports went through the first steps; the assault is waiting for its RIDDOR decision.
    for incident in incidents:
        age = now - incident.occurred_at
        if age < timedelta(days=20) and incident.category != C.PHYSICAL_ASSAULT:
            continue  # recent ones still wait for their manager (overdue steps)
        step = incident.reported_at or now
        procedure.acknowledge(manager, incident, now=step + timedelta(hours=2))
        procedure.triage(
            manager,
            incident,
            harm=Harm.MINOR if incident.harmed else Harm.PSYCHOLOGICAL,
            consequence=3 if incident.harmed else 2,
            likelihood=3,
            investigation_level=InvestigationLevel.MANAGER_REVIEW,
            now=step + timedelta(hours=20),
        )
    # The assault's chasing alarm ended when the manager reached Priya: off the board.
    for alarm in db.session.scalars(
        sa.select(Alarm).where(
            Alarm.incident_id.in_([i.id for i in incidents]), Alarm.status != AlarmStatus.RESOLVED
        )
    ):
        alarm_service.resolve(
            alarm,
            actor=manager,
            now=alarm.raised_at + timedelta(hours=3),
            outcome=AlarmOutcome.SAFE,
            notes=None,
        )
    _quiet_history(now)
    db.session.flush()
    return len(incidents)


def _visits(worker: User, *, now: datetime) -> None:
    """About two visits each working day for five months, all finished before today."""
    start = now - timedelta(days=152)
    for n in range(0, 150, 2):
        day = start + timedelta(days=n)
        if day.weekday() >= 5:
            continue
        for hour, address in ((10, ADDRESSES[n % 4]), (14, ADDRESSES[(n + 1) % 4])):
            begin = day.replace(hour=hour, minute=0, second=0, microsecond=0)
            visit = visit_service.check_in(
                worker, address=address, now=begin, max_minutes=720, duration_minutes=60
            ).visit
            visit_service.check_out(worker, visit.id, now=begin + timedelta(minutes=45))


def _quiet_history(now: datetime) -> None:
    """The demo's past is history, not news: its texts and overdue reminders are not sent when
    the demo starts (the overdue steps still show on the summary)."""
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
    )
    for model in (Incident, IncidentSupport, IncidentAction):
        db.session.execute(
            sa.update(model).where(model.next_reminder_at <= now).values(next_reminder_at=None)
        )
