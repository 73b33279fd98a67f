"""Command-line tools: `safetycheck create-admin | demo | config` (or `flask --app safetycheck ...`)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import NamedTuple

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from safetycheck import localtime
from safetycheck.accounts import rota_service
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.accounts.rota_models import ShiftUnit
from safetycheck.errors import DomainError
from safetycheck.extensions import db


def _now() -> datetime:
    now: datetime = current_app.extensions["safetycheck.clock"].now()
    return now


# with_appcontext: the `flask` command pushes a context itself, but `app.cli` (what tests and
# scripts invoke through `app.test_cli_runner()`) does not.
@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", required=True, help=f"at least {account_service.MIN_PASSWORD_LENGTH} characters")
@click.option("--phone", required=True, help="E.164, e.g. +447700900000 (UK numbers may omit +44)")
@click.option("--name", required=True)
@with_appcontext
def create_admin(email: str, password: str, phone: str, name: str) -> None:
    """Create the first admin; running it again with the same email changes nothing."""
    existing = account_service.find_user_by_email(email)
    if existing is not None and existing.role != Role.ADMIN:
        raise click.ClickException(
            f"{existing.email} is a {existing.role} (id {existing.id}), not an admin; nothing changed"
        )
    if existing is not None:
        click.echo(f"admin {existing.email} exists (id {existing.id}); nothing changed")
        return
    try:
        user = account_service.create_user(
            name=name,
            email=email,
            phone=phone,
            role=Role.ADMIN,
            team_id=None,
            password=password,
            now=_now(),
        )
    except DomainError as exc:
        db.session.rollback()
        details = "; ".join(
            f"{field}: {' '.join(map(str, problems))}" for field, problems in exc.errors.items()
        )
        raise click.ClickException(f"{exc.message} {details}".strip()) from exc
    db.session.commit()
    click.echo(f"created admin {user.email} (id {user.id})")


DEMO_PASSWORD = "demo-password-1"
DEMO_TEAM = "Northside Children's Services"
# On call is a manager of another team, as an out-of-hours duty manager usually is: the ladder's
# last step (team managers and on call) then texts someone the managers' step did not, and the
# demo shows the escalation widening.
DUTY_TEAM = "Out-of-Hours Duty Team"


class DemoPerson(NamedTuple):
    name: str
    email: str
    phone: str
    role: Role
    team: str | None
    on_call: bool = False
    duress_pin: str | None = None


DEMO_PEOPLE = [
    DemoPerson("Ada Admin", "admin@demo.safetycheck", "+447700900001", Role.ADMIN, None),
    DemoPerson("Morgan Manager", "manager@demo.safetycheck", "+447700900002", Role.MANAGER, DEMO_TEAM),
    DemoPerson("Olu On-Call", "oncall@demo.safetycheck", "+447700900003", Role.MANAGER, DUTY_TEAM),
    DemoPerson(
        "Priya Practitioner",
        "priya@demo.safetycheck",
        "+447700900004",
        Role.PRACTITIONER,
        DEMO_TEAM,
        False,
        "9911",
    ),
    DemoPerson(
        "Sam Practitioner",
        "sam@demo.safetycheck",
        "+447700900005",
        Role.PRACTITIONER,
        DEMO_TEAM,
        False,
        "9922",
    ),
    DemoPerson("Harper H&S Lead", "lead@demo.safetycheck", "+447700900006", Role.HS_LEAD, None),
    DemoPerson("Dana Duty", "duty@demo.safetycheck", "+447700900007", Role.MANAGER, DUTY_TEAM),
]
# The demo rota, across teams: Olu and Dana take weekly turns by day (hand-over Monday 09:00)
# and nightly turns out of hours (17:00 to 09:00, and weekend days), the out-of-hours layer
# winning inside its window; the board and /admin/rota show who is on and who is next.
DEMO_OUT_OF_HOURS = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "17:00", "until": "09:00"},
    {"days": ["sat", "sun"], "from": "09:00", "until": "17:00"},
]


@click.command("demo")
@click.option("--with-incidents", is_flag=True, help="Also add five months of visits and incidents.")
@with_appcontext
def demo(with_incidents: bool) -> None:
    """Fill an empty database with a demo team and print the logins."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("the database already has users; demo data not added")
        if with_incidents:
            _demo_incidents()
        _print_logins()
        return
    now = _now()
    teams = {name: account_service.create_team(name=name, now=now) for name in (DEMO_TEAM, DUTY_TEAM)}
    for person in DEMO_PEOPLE:
        account_service.create_user(
            name=person.name,
            email=person.email,
            phone=person.phone,
            role=person.role,
            team_id=teams[person.team].id if person.team else None,
            password=DEMO_PASSWORD,
            on_call=person.on_call,
            duress_pin=person.duress_pin,
            now=now,
        )
    _demo_rota(now)
    db.session.commit()
    click.echo(f"demo organisation created: teams {DEMO_TEAM!r} and {DUTY_TEAM!r}, and an on-call rota")
    if with_incidents:
        _demo_incidents()
    _print_logins()


def _demo_rota(now: datetime) -> None:
    duty = [
        account_service.find_user_by_email(e) for e in ("oncall@demo.safetycheck", "duty@demo.safetycheck")
    ]
    ids = [u.id for u in duty if u is not None]
    today = localtime.local_date(now)
    last_week = today - timedelta(days=today.weekday() + 7)  # a Monday, so a turn is in progress
    rota_service.create_rotation(
        name="Duty manager (day)",
        team_id=None,
        layer_id=None,
        handover_time=time(9, 0),
        shift_length=1,
        shift_unit=ShiftUnit.WEEKS,
        starts_on=last_week,
        member_ids=ids,
        now=now,
    )
    nights = rota_service.create_layer(name="Out of hours", priority=10, windows=DEMO_OUT_OF_HOURS, now=now)
    rota_service.create_rotation(
        name="Out-of-hours duty",
        team_id=None,
        layer_id=nights.id,
        handover_time=time(17, 0),
        shift_length=1,
        shift_unit=ShiftUnit.DAYS,
        starts_on=last_week,
        member_ids=ids[::-1],
        now=now,
    )


def _demo_incidents() -> None:
    """The register's demo history, once: only into an empty register of the demo organisation."""
    from safetycheck.incidents import demo as demo_register
    from safetycheck.incidents.models import Incident

    people = {
        u.email.split("@")[0]: u
        for u in db.session.scalars(sa.select(User).where(User.email.like("%@demo.safetycheck")))
    }
    if db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) or not {
        "priya",
        "sam",
        "manager",
    } <= set(people):
        click.echo("the register already has incidents (or no demo team); demo incidents not added")
        return
    count = demo_register.seed(now=_now(), people=people, manager=people["manager"])
    db.session.commit()
    click.echo(f"demo register: {count} incidents over the last five months")


def _print_logins() -> None:
    click.echo(f"logins (password {DEMO_PASSWORD!r} for each):")
    for person in DEMO_PEOPLE:
        extra = f", {person.team}" if person.team else ""
        extra += ", on call" if person.on_call else ""
        extra += f", duress PIN {person.duress_pin}" if person.duress_pin else ""
        click.echo(f"  {person.role:<13} {person.email:<28} {person.phone}  {person.name}{extra}")


@click.command("config")
@with_appcontext
def show_config() -> None:
    """Print which settings files are read, in order, and the files and database in use."""
    click.echo("settings, each layer overriding the one before:")
    for path in current_app.extensions["safetycheck.settings_files"]:
        click.echo(f"  {path}")
    click.echo("  SAFETYCHECK_* environment variables")
    url = sa.engine.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    click.echo(f"escalation policy: {current_app.config['ESCALATION_POLICY']}")
    click.echo(f"migrations:        {current_app.extensions['migrate'].directory}")
    click.echo(f"instance folder:   {current_app.instance_path}")
    click.echo(f"database:          {url.render_as_string(hide_password=True)}")


def register(app: Flask) -> None:
    for command in (create_admin, demo, show_config):
        app.cli.add_command(command)
