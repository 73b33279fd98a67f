"""Real worker processes against a database of their own, for the crash, concurrency and bench runs.

Nothing of ours is faked: the sweep runs as `flask --app safetycheck sweep|worker` subprocesses
(or, for the SQLite threads test, `run_sweep` itself), on the real clock, against a scratch
database built by the real migrations and filled through the real services. The only fake is
Twilio (`tests.fake_twilio.FakeTwilio`), reached over HTTP by the real twilio SDK.

`check_exactly_once` is the verdict every test shares: each step of each alarm was decided once
(one timeline entry, one outbox row per recipient), nothing due was left undone, and the fake
received exactly the texts the outbox says were sent: one message per sent row, none twice.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.db import normalise_database_url
from safetycheck.engine.models import SweepHeartbeat
from safetycheck.escalation import panic, policy
from safetycheck.escalation.enums import AlarmKind, AlarmStatus, MessagePurpose, OutboxStatus
from safetycheck.escalation.models import Alarm, OutboxAlarm, OutboxMessage
from safetycheck.extensions import db
from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits import service as visit_service
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit
from tests.fake_twilio import FakeTwilio

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FROM_NUMBER = "+447700900999"

# Every step falls due within two seconds of the visit's due time, and the ladders end (no
# repeats), so "quiescent" is well defined: every ladder exhausted and the outbox empty. A
# manager gets the same words at executions 2 and 3, which is what makes reconciling a text
# whose outcome is unknown by its body alone a trap.
# The benchmarks' ladder: the worker and the managers at the due time, nothing after.
MANAGERS_AT_DUE_POLICY = """
[reminder]
before = 0

[overdue]
steps = [
  { after = 0, notify = ["practitioner"] },
  { after = 0, notify = ["team_managers"] },
]

[panic]
steps = [ { after = 0, notify = ["team_managers"] } ]

[duress]
steps = [ { after = 0, notify = ["team_managers"] } ]
"""

FINITE_POLICY = """
[reminder]
before = 0

[overdue]
steps = [
  { after = 0, notify = ["practitioner"] },
  { after = 1, notify = ["team_managers"] },
  { after = 2, notify = ["team_managers", "on_call"] },
]

[panic]
steps = [
  { after = 0, notify = ["team_managers", "on_call"] },
  { after = 2, notify = ["on_call"] },
]

[duress]
steps = [ { after = 0, notify = ["team_managers", "on_call"] } ]
"""

# The last steps repeat every second until acknowledged: a few seconds of wall time give every
# alarm several executions, decided by whichever process gets there first.
REPEATING_POLICY = """
[reminder]
before = 0

[overdue]
steps = [
  { after = 0, notify = ["practitioner"] },
  { after = 1, notify = ["team_managers"] },
  { after = 2, notify = ["team_managers", "on_call"], repeat_every = 1 },
]

[panic]
steps = [ { after = 0, notify = ["team_managers", "on_call"], repeat_every = 1 } ]

[duress]
steps = [ { after = 0, notify = ["team_managers", "on_call"], repeat_every = 1 } ]
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll (the harness may sleep; the sweep never does) until true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- a database of the test's own --------------------------------------------------------------


def _on_postgres(url: str | None) -> bool:
    return bool(url and url.startswith(("postgres://", "postgresql")))


@contextmanager
def migrated_template(server_url: str | None, directory: Path) -> Iterator[str]:
    """An empty database with the schema, built once and cloned by `scratch_database` (cheaper
    than running the migrations for every test)."""
    with scratch_database(server_url, directory, "template") as url:
        policy_path = write_policy(directory, FINITE_POLICY)
        with open_app(url, policy_path):
            pass  # migrates, then lets go of every connection (a template must have none)
        yield url


@contextmanager
def scratch_database(
    server_url: str | None, directory: Path, name: str, *, template: str | None = None
) -> Iterator[str]:
    """A fresh database: a SQLite file in `directory`, or a new database on the PostgreSQL server
    of `server_url`, dropped afterwards even if a killed process left a connection behind. With
    `template` (from `migrated_template`), a copy of it; otherwise empty."""
    if not _on_postgres(server_url):
        path = directory / f"{name}.sqlite3"
        if template:
            shutil.copyfile(template.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    assert server_url is not None
    base = sa.engine.make_url(normalise_database_url(server_url))
    db_name = f"{base.database or 'safetycheck'}_{name}_{secrets.token_hex(3)}"[:63]
    clone = f' TEMPLATE "{sa.engine.make_url(template).database}"' if template else ""
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{db_name}"{clone}')
        try:
            yield base.set(database=db_name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    finally:
        admin.dispose()


def write_policy(directory: Path, text: str) -> Path:
    path = directory / "policy.toml"
    path.write_text(text)
    return path


def twilio_config(fake: FakeTwilio) -> dict[str, Any]:
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_BASE_URL": fake.base_url,
    }


@contextmanager
def open_app(
    url: str, policy_path: Path, *, clock: Any = None, extra: dict[str, Any] | None = None
) -> Iterator[Flask]:
    """The app in this process, on the scratch database: migrates it, then fills and inspects it."""
    from flask_migrate import upgrade

    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "harness-secret",
        "SCHEDULER_ENABLED": False,
        "SMS_BACKEND": "console",
        "ESCALATION_POLICY": str(policy_path),
        **(extra or {}),
    }
    app = create_app(config, clock=clock)
    try:
        with app.app_context():
            upgrade()
            db.session.remove()
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["safetycheck.sms"].close()


# --- people, visits, panics ----------------------------------------------------------------------


@dataclass
class Population:
    visit_ids: list[int] = field(default_factory=list)
    panic_alarm_ids: list[int] = field(default_factory=list)
    phones: dict[int, str] = field(default_factory=dict)  # user id -> phone


def populate(
    app: Flask,
    *,
    visits_due: list[datetime],
    panics_at: list[datetime] | None = None,
    teams: int = 1,
) -> Population:
    """Teams with a manager each, one on-call manager, and a practitioner per visit and per panic.

    Visits are checked in through the real service (with its clock a minute before the earliest
    due time, since a check-in must end in the future), panics raised through the real service.
    Phones are unique, so texts can be told apart by number.
    """
    panics_at = panics_at or []
    now = min([*visits_due, *panics_at]) - timedelta(minutes=1)
    out = Population()
    seq = iter(range(1, 100_000))

    def person(role: Role, team_id: int, **kw: Any) -> Any:
        n = next(seq)
        user = account_service.create_user(
            name=f"{role.value.title()} {n}",
            email=f"{role.value}{n}@harness.test",
            phone=f"+4474000{n:05d}",
            role=role,
            team_id=team_id,
            password="harness password",
            now=now,
            **kw,
        )
        out.phones[user.id] = user.phone
        return user

    with app.app_context():
        team_ids = [account_service.create_team(name=f"Harness team {i}", now=now).id for i in range(teams)]
        for team_id in team_ids:
            person(Role.MANAGER, team_id)
        person(Role.MANAGER, team_ids[0], on_call=True)
        for i, due in enumerate(visits_due):
            worker = person(Role.PRACTITIONER, team_ids[i % teams])
            checked_in = visit_service.check_in(
                worker, address=f"{i + 1} Harness Street", now=now, max_minutes=720, expected_end=due
            )
            out.visit_ids.append(checked_in.visit.id)
        for i, raised in enumerate(panics_at):
            worker = person(Role.PRACTITIONER, team_ids[i % teams])
            out.panic_alarm_ids.append(panic.raise_panic(worker, now=raised, message=f"panic {i}").id)
        db.session.commit()
    return out


# --- worker processes -----------------------------------------------------------------------------


class Sweepers:
    """Start `flask --app safetycheck sweep|worker` processes; every one is killed and reaped on exit.

    Each process's output goes to a file in `directory`, shown by `logs()` when a test fails.
    """

    def __init__(
        self,
        *,
        url: str,
        fake: FakeTwilio,
        policy_path: Path,
        directory: Path,
        interval: float = 0.2,
        stale_claim: float = 1.0,
        twilio_timeout: float = 0.5,
    ) -> None:
        self.url = url
        self.fake = fake
        self.policy_path = policy_path
        self.directory = directory
        self.interval = interval
        self.stale_claim = stale_claim
        self.twilio_timeout = twilio_timeout
        self.procs: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []
        self._logs: list[Path] = []

    def env(self, *, crash_points: str = "", stale_claim: float | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SAFETYCHECK_", "FLASK_"))}
        env.update(
            PYTHONUNBUFFERED="1",
            SAFETYCHECK_DATABASE_URL=self.url,
            SAFETYCHECK_SECRET_KEY="harness-secret",
            SAFETYCHECK_SMS_BACKEND="twilio",
            SAFETYCHECK_TWILIO_ACCOUNT_SID=self.fake.account_sid,
            SAFETYCHECK_TWILIO_AUTH_TOKEN=self.fake.auth_token,
            SAFETYCHECK_TWILIO_FROM_NUMBER=FROM_NUMBER,
            SAFETYCHECK_TWILIO_BASE_URL=self.fake.base_url,
            SAFETYCHECK_TWILIO_TIMEOUT_SECONDS=str(self.twilio_timeout),
            SAFETYCHECK_OUTBOX_STALE_CLAIM_SECONDS=str(stale_claim or self.stale_claim),
            SAFETYCHECK_SWEEP_INTERVAL_SECONDS=str(self.interval),
            SAFETYCHECK_ESCALATION_POLICY=str(self.policy_path),
            SAFETYCHECK_CRASH_POINTS=crash_points,
        )
        return env

    def _output(self, name: str) -> IO[bytes]:
        path = self.directory / f"{len(self._logs):02d}-{name}.log"
        self._logs.append(path)
        handle = path.open("wb")
        self._files.append(handle)
        return handle

    def start(self, command: str, *, name: str, **env_kw: Any) -> subprocess.Popen[bytes]:
        """Start `sweep` or `worker` in the background."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "safetycheck", command],
            cwd=PROJECT_ROOT,
            env=self.env(**env_kw),
            stdout=(out := self._output(name)),
            stderr=out,
        )
        self.procs.append(proc)
        return proc

    def sweep(self, *, name: str = "sweep", timeout: float = 30, **env_kw: Any) -> int:
        """Run one sweep process to its end; return its exit code (-9: it killed itself)."""
        return self.wait(self.start("sweep", name=name, **env_kw), timeout=timeout)

    @staticmethod
    def wait(proc: subprocess.Popen[bytes], *, timeout: float) -> int:
        """Wait for a process to end by itself; kill it if it does not within `timeout`."""
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, timeout: float = 10) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)
        for handle in self._files:
            handle.close()

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for path in self._logs:
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"==== {path.name}\n{text[-tail:]}")
        return "\n".join(parts)

    def __enter__(self) -> Sweepers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def worker_world(
    database_url: str | None, directory: Path, name: str, policy_text: str, *, interval: float
) -> Iterator[tuple[FakeTwilio, Flask, Sweepers]]:
    """A fake Twilio, a scratch database, the app on it and a launcher for worker processes."""
    policy_path = write_policy(directory, policy_text)
    with (
        FakeTwilio() as fake,
        scratch_database(database_url, directory, name) as url,
        open_app(url, policy_path) as app,
        Sweepers(
            url=url, fake=fake, policy_path=policy_path, directory=directory, interval=interval
        ) as sweepers,
    ):
        yield fake, app, sweepers


def instance_of(proc: subprocess.Popen[bytes]) -> str:
    """The heartbeat key a sweep process writes (`safetycheck.engine.sweep.INSTANCE`)."""
    return f"{socket.gethostname()}:{proc.pid}"


# --- reading the outcome --------------------------------------------------------------------------


def heartbeat(app: Flask, instance: str) -> SweepHeartbeat | None:
    with app.app_context():
        try:
            beat = db.session.get(SweepHeartbeat, instance)
            if beat is not None:
                db.session.expunge(beat)
            return beat
        finally:
            db.session.remove()


@dataclass(frozen=True)
class Backlog:
    active_due_visits: int
    live_ladders: int  # open alarms with a next step still to come
    due_steps: int  # open alarms whose next step is due now
    open_texts: int  # outbox rows pending or sending

    @property
    def quiescent(self) -> bool:
        """Nothing left to do, ever (for ladders that end)."""
        return not (self.active_due_visits or self.live_ladders or self.open_texts)


def backlog(app: Flask, now: datetime | None = None) -> Backlog:
    now = now or utcnow()
    with app.app_context():
        try:
            count = lambda q: int(db.session.scalar(sa.select(sa.func.count()).select_from(q)) or 0)  # noqa: E731
            return Backlog(
                active_due_visits=count(
                    sa.select(Visit.id)
                    .where(Visit.status == VisitStatus.ACTIVE, Visit.due_at <= now)
                    .subquery()
                ),
                live_ladders=count(
                    sa.select(Alarm.id)
                    .where(Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at.is_not(None))
                    .subquery()
                ),
                due_steps=count(
                    sa.select(Alarm.id)
                    .where(Alarm.status == AlarmStatus.OPEN, Alarm.next_step_at <= now)
                    .subquery()
                ),
                open_texts=count(
                    sa.select(OutboxMessage.id)
                    .where(OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)))
                    .subquery()
                ),
            )
        finally:
            db.session.remove()


@dataclass
class Verdict:
    alarms: int
    decisions: int  # ladder executions decided (timeline entries), caught-up ones merged
    texts: int  # outbox rows = messages Twilio accepted
    problems: list[str]


def check_exactly_once(
    app: Flask,
    fake: FakeTwilio,
    *,
    rules: policy.Policy,
    population: Population,
    nothing_due_at: datetime | None = None,
    exhausted: bool = False,
) -> Verdict:
    """Every promise of the engine, checked against the database and the fake's own record.

    - one overdue alarm per overdue visit, and only the panic alarms raised;
    - each alarm's decisions (timeline `escalated` entries) partition its executions 0..k: no
      execution decided twice, none skipped (after an outage several merge into one decision,
      which the entry's `caught_up` says);
    - each decision has exactly one outbox row per recipient it named, and every escalation row
      belongs to a decision; one row per (alarm, execution, recipient);
    - nothing due was left: with `exhausted`, every ladder ran to its end; with `nothing_due_at`,
      no alarm had an execution due at that moment still untaken; no text pending or sending;
    - the fake accepted exactly one message per sent row: same SID, number and words, no SID
      twice, no message that no row accounts for.
    """
    problems: list[str] = []
    with app.app_context():
        try:
            alarms = list(db.session.scalars(sa.select(Alarm).order_by(Alarm.id)))
            visits = list(db.session.scalars(sa.select(Visit).order_by(Visit.id)))
            rows = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
            entries = list(
                db.session.scalars(
                    sa.select(TimelineEntry)
                    .where(TimelineEntry.subject_type == "alarm", TimelineEntry.event == "escalated")
                    .order_by(TimelineEntry.id)
                )
            )
            _check_alarms(alarms, visits, population, problems)
            links = list(db.session.scalars(sa.select(OutboxAlarm).order_by(OutboxAlarm.id)))
            decisions = _check_decisions(alarms, rows, entries, problems, links)
            _check_nothing_left(alarms, rows, rules, nothing_due_at, exhausted, problems)
            _check_texts(rows, fake, problems)
            return Verdict(alarms=len(alarms), decisions=decisions, texts=len(rows), problems=problems)
        finally:
            db.session.remove()


def _check_alarms(
    alarms: list[Alarm], visits: list[Visit], population: Population, problems: list[str]
) -> None:
    per_visit = Counter(a.visit_id for a in alarms if a.kind == AlarmKind.OVERDUE)
    for visit in visits:
        if visit.id not in population.visit_ids:
            continue
        if visit.status != VisitStatus.OVERDUE:
            problems.append(f"visit {visit.id} is {visit.status}, not overdue")
        if per_visit[visit.id] != 1:
            problems.append(f"visit {visit.id} has {per_visit[visit.id]} overdue alarms")
    panics = sorted(a.id for a in alarms if a.kind == AlarmKind.PANIC)
    if panics != sorted(population.panic_alarm_ids):
        problems.append(f"panic alarms {panics}, raised {sorted(population.panic_alarm_ids)}")
    others = [a.id for a in alarms if a.kind not in (AlarmKind.OVERDUE, AlarmKind.PANIC)]
    if others:
        problems.append(f"unexpected alarms {others}")


def _check_decisions(
    alarms: list[Alarm],
    rows: list[OutboxMessage],
    entries: list[TimelineEntry],
    problems: list[str],
    links: list[OutboxAlarm],
) -> int:
    by_alarm: dict[int, list[TimelineEntry]] = {}
    for entry in entries:
        by_alarm.setdefault(entry.subject_id, []).append(entry)
    odd = [r.id for r in rows if r.purpose != MessagePurpose.ESCALATION or r.alarm_id is None]
    if odd:
        problems.append(f"outbox rows that are not escalation steps: {odd}")
    # A bundled text (escalation/bundling.py) stands for several decisions, one link row each:
    # judge the decisions, one per (alarm, execution, recipient), not the rows.
    carried: dict[int, list[tuple[int, int, int]]] = {}
    for link in links:
        carried.setdefault(link.message_id, []).append(
            (link.alarm_id, link.step_execution, link.recipient_id)
        )
    unlinked = [r.id for r in rows if r.id not in carried]
    if unlinked:
        problems.append(f"escalation texts that name no alarm they carried: {unlinked}")
    keyed = Counter(key for r in rows for key in carried.get(r.id, []))
    for key, n in keyed.items():
        if n != 1:
            problems.append(f"(alarm, execution, recipient) {key}: {n} outbox rows")
    decided: set[tuple[int, int]] = set()
    for alarm in alarms:
        done = 0
        silent = alarm.kind in policy.SILENT_TO_PRACTITIONER
        for entry in by_alarm.get(alarm.id, []):
            execution, caught_up = entry.details["execution"], entry.details["caught_up"]
            if execution - caught_up != done or caught_up < 1:
                problems.append(
                    f"alarm {alarm.id}: decision for executions {execution - caught_up + 1}..{execution} "
                    f"after {done} were done (decided twice or skipped)"
                )
            done = max(done, execution)
            decided.add((alarm.id, execution))
            wanted = set(entry.details["notified"]) - ({alarm.practitioner_id} if silent else set())
            texted = {u for (a, k, u) in keyed if (a, k) == (alarm.id, execution)}
            if texted != wanted:
                problems.append(
                    f"alarm {alarm.id} execution {execution}: "
                    f"texted {sorted(texted)}, decided {sorted(wanted)}"
                )
        if done != alarm.executed_steps:
            problems.append(
                f"alarm {alarm.id}: executed_steps {alarm.executed_steps}, decisions reach {done}"
            )
    orphans = sorted({(a, k) for (a, k, _) in keyed} - decided)
    if orphans:
        problems.append(f"outbox rows with no decision: {orphans}")
    return len(entries)


def _check_nothing_left(
    alarms: list[Alarm],
    rows: list[OutboxMessage],
    rules: policy.Policy,
    nothing_due_at: datetime | None,
    exhausted: bool,
    problems: list[str],
) -> None:
    for alarm in alarms:
        if alarm.status != AlarmStatus.OPEN:
            problems.append(f"alarm {alarm.id} is {alarm.status}; nobody acknowledged it")
            continue
        ladder = rules.ladders[alarm.kind]
        if exhausted and (
            alarm.next_step_at is not None
            or policy.execution_due_at(ladder, alarm.executed_steps, alarm.origin_at) is not None
        ):
            problems.append(f"alarm {alarm.id} stopped at execution {alarm.executed_steps}")
        if nothing_due_at is not None and policy.advance(
            ladder, alarm.executed_steps, alarm.origin_at, nothing_due_at
        ):
            problems.append(
                f"alarm {alarm.id}: execution {alarm.executed_steps + 1} was due at "
                f"{nothing_due_at.isoformat()} and not taken"
            )
    unsent = [(r.id, r.status.value, r.attempts) for r in rows if r.status != OutboxStatus.SENT]
    if unsent:
        problems.append(f"texts not sent (id, status, attempts): {unsent}")


def _check_texts(rows: list[OutboxMessage], fake: FakeTwilio, problems: list[str]) -> None:
    messages = fake.messages
    sids = Counter(m.sid for m in messages)
    if any(n > 1 for n in sids.values()):
        problems.append("the fake handed out a SID twice")
    received = {m.sid: (m.to, m.body) for m in messages}
    recorded = {r.sid: (r.to_phone, r.body) for r in rows if r.sid is not None}
    for sid in received.keys() - recorded.keys():
        problems.append(f"text {received[sid]} reached Twilio ({sid}), no row accounts for it: sent twice?")
    for sid in recorded.keys() - received.keys():
        problems.append(f"row with SID {sid} was never received by Twilio")
    for sid in received.keys() & recorded.keys():
        if received[sid] != recorded[sid]:
            problems.append(f"SID {sid}: Twilio got {received[sid]}, the row says {recorded[sid]}")
    if Counter(received.values()) != Counter(recorded.values()):
        problems.append("texts per (number, words) differ between Twilio and the outbox")
