"""Retention on a moved clock: locations go after 30 days, addresses and notes after a year,
except while an incident from the visit is younger than three years; incidents stay."""

from __future__ import annotations

from datetime import timedelta

from safetycheck.escalation import panic
from safetycheck.escalation.alarms import Location
from safetycheck.escalation.models import Alarm
from safetycheck.extensions import db
from safetycheck.incidents import retention
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory
from safetycheck.incidents.models import Incident
from safetycheck.visits import service as visit_service
from safetycheck.visits.models import Visit

HERE = Location(53.8, -1.55, 10.0)


def visit_row(visit_id: int) -> Visit:
    db.session.expire_all()
    row = db.session.get(Visit, visit_id)
    assert row is not None
    return row


def test_a_visits_locations_are_purged_after_the_configured_days(ctx, org, clock, sweep, console_sms) -> None:
    visit = visit_service.check_in(
        org.practitioner, address="1 Kept Street", now=clock.now(), max_minutes=720, duration_minutes=60
    ).visit
    alarm = panic.raise_panic(org.practitioner, now=clock.now(), location=HERE)
    current = visit_service.check_in(
        org.colleague, address="2 Current Street", now=clock.now(), max_minutes=720, duration_minutes=60
    ).visit
    db.session.commit()
    visit_service.check_out(org.practitioner, visit.id, now=clock.now())
    db.session.commit()
    assert db.session.get(Alarm, alarm.id).lat == HERE.lat  # the copy on the alarm outlives the visit

    clock.advance(days=29)
    sweep()
    db.session.expire_all()
    assert db.session.get(Alarm, alarm.id).lat == HERE.lat
    clock.advance(days=2)
    report = sweep()

    db.session.expire_all()
    purged = db.session.get(Alarm, alarm.id)
    assert (purged.lat, purged.lon, purged.accuracy_m) == (None, None, None)
    assert report.done["incidents.retention"] >= 1
    assert visit_row(current.id).address == "2 Current Street"  # a visit not over is left alone


def test_closed_visits_are_minimised_after_a_year_unless_an_incident_needs_them(
    ctx, app, org, clock, sweep, console_sms
) -> None:
    start = clock.now()
    plain = visit_service.check_in(
        org.practitioner,
        address="3 Plain Road",
        notes="dog in the garden",
        now=start,
        max_minutes=720,
        duration_minutes=60,
    ).visit
    reported = visit_service.check_in(
        org.colleague,
        address="4 Incident Road",
        notes="met at the door",
        now=start,
        max_minutes=720,
        duration_minutes=60,
    ).visit
    db.session.commit()
    incident = incident_service.report(
        org.colleague,
        occurred_at=start,
        category=IncidentCategory.VERBAL_ABUSE,
        description="Shouted at on the doorstep",
        near_miss=False,
        harmed=False,
        now=start,
        visit_id=reported.id,
    )
    visit_service.check_out(org.practitioner, plain.id, now=start)
    visit_service.check_out(org.colleague, reported.id, now=start)
    db.session.commit()

    clock.advance(days=364)
    sweep()
    assert (visit_row(plain.id).address, visit_row(plain.id).notes) == ("3 Plain Road", "dog in the garden")
    clock.advance(days=2)
    sweep()
    assert (visit_row(plain.id).address, visit_row(plain.id).notes) == (retention.MINIMISED_ADDRESS, None)
    assert visit_row(reported.id).address == "4 Incident Road"  # its incident is under three years old

    clock.set(start + retention.INCIDENT_RETENTION - timedelta(days=1))
    sweep()
    assert visit_row(reported.id).address == "4 Incident Road"
    clock.set(start + retention.INCIDENT_RETENTION + timedelta(days=1))
    sweep()
    assert (visit_row(reported.id).address, visit_row(reported.id).notes) == (
        retention.MINIMISED_ADDRESS,
        None,
    )
    # The incident itself is kept, its own address included.
    db.session.expire_all()
    kept = db.session.get(Incident, incident.id)
    assert kept is not None
    assert kept.address == "4 Incident Road"


def test_the_retention_periods_are_settings(base_config) -> None:
    from safetycheck import create_app

    app = create_app(
        {**base_config, "VISIT_LOCATION_RETENTION_DAYS": "7", "VISIT_DETAIL_RETENTION_DAYS": "90"}
    )
    assert (app.config["VISIT_LOCATION_RETENTION_DAYS"], app.config["VISIT_DETAIL_RETENTION_DAYS"]) == (7, 90)
