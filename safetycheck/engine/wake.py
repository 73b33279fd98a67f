"""Wake the sweep at once: when something urgent is committed, and at the next deadline.

The sweep is an APScheduler interval job (`engine/scheduler.py`); the interval is only its safety
net. After each sweep the engine asks the parts for their next deadline and moves the job's next
run to it (`Sweeper`), so a visit falling due is marked at its due time, not at the next tick.
Something that cannot wait for a deadline (a panic, a duress check-out, a serious incident) calls
`request_wake()` in the transaction that writes it, and the sweeping process hears of it on commit:

- in the same process (the embedded scheduler, any database): an in-process call on commit;
- PostgreSQL, another process: `NOTIFY safetycheck_wake` in that transaction, which PostgreSQL
  delivers only if it commits; each sweeping process `LISTEN`s on a connection of its own in a
  thread (`Listener`), reconnecting when it drops;
- SQLite, another process (a separate `worker` beside `flask run`): no NOTIFY, so the sweeping
  process polls every WAKE_POLL_SECONDS for a deadline that has passed since its last sweep
  began (the parts' `next_due`), a few cheap indexed queries (`Poller`).

A wake during a sweep is not lost: the sweep runs again as soon as it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.jobstores.base import JobLookupError
from flask import Flask
from sqlalchemy.orm import Session

from safetycheck.engine import sweep
from safetycheck.extensions import db

log = logging.getLogger(__name__)

CHANNEL = "safetycheck_wake"
LISTENER_NAME = "safetycheck-wake"  # application_name of the LISTEN connection
_PENDING = "safetycheck.wake_requested"

# What this process runs when a wake is committed here (the embedded scheduler's `Sweeper.wake`).
_LOCAL_WAKERS: list[Callable[[], None]] = []


def request_wake() -> None:
    """Ask every sweeping process to sweep now, once the current transaction commits."""
    session = db.session()
    if session.get_bind().dialect.name == "postgresql":
        # Inside the transaction: PostgreSQL delivers a notification only when it commits.
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))
    session.info[_PENDING] = True


def add_local_waker(func: Callable[[], None]) -> None:
    if func not in _LOCAL_WAKERS:
        _LOCAL_WAKERS.append(func)


def remove_local_waker(func: Callable[[], None]) -> None:
    if func in _LOCAL_WAKERS:
        _LOCAL_WAKERS.remove(func)


@sa.event.listens_for(Session, "after_commit")
def _wake_on_commit(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        for func in list(_LOCAL_WAKERS):
            try:
                func()
            except Exception:  # the commit is done; a sweep at the next tick still happens
                log.exception("could not wake the sweep in this process")


@sa.event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Sweeper:
    """The sweep job's function: runs one sweep, then moves the job's next run to the next deadline."""

    def __init__(self, app: Flask, scheduler: Any, job_id: str) -> None:
        self.app = app
        self.scheduler = scheduler
        self.job_id = job_id
        self.interval = float(app.config["SWEEP_INTERVAL_SECONDS"])
        self._clock = app.extensions["safetycheck.clock"]
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._stopped = False
        self.last_began: datetime | None = None  # app clock; the poller compares deadlines with it

    def __call__(self) -> None:
        with self._lock:
            if self._running:
                # The job allows two instances so that a run brought forward from the end of the
                # last one is not skipped while APScheduler still counts it; this lock keeps the
                # one-sweep-at-a-time rule: the sweep in progress runs again when it ends.
                self._again = True
                return
            self._running = True
            self._again = False
            self.last_began = self._clock.now()
        report: sweep.SweepReport | None = None
        try:
            report = sweep.run_sweep(self.app)
            log.debug(
                "swept: %s %s", report.summary(), {k: round(v * 1000) for k, v in report.seconds.items()}
            )
        finally:
            with self._lock:
                self._running = False
                if self._again or (report is not None and report.backlog):
                    self._run_within(0.0)
                elif report is not None and report.next_due is not None:
                    wait = (report.next_due - self._clock.now()).total_seconds()
                    self._run_within(max(wait, 0.0))

    def wake(self) -> None:
        """Sweep now, or right after the sweep in progress (which may have looked already)."""
        with self._lock:
            if self._running:
                self._again = True
            else:
                self._run_within(0.0)

    def stop(self) -> None:
        """Reschedule nothing from now on; call before the scheduler's shutdown.

        APScheduler's shutdown(wait=True) holds its job-store lock while it waits for the sweep in
        progress; a sweep that then asked for that lock to bring its next run forward would never
        end. Taking our lock here waits for any rescheduling under way to finish first.
        """
        with self._lock:
            self._stopped = True

    def _run_within(self, seconds: float) -> None:
        """Bring the job's next run forward to `seconds` from now (never push it back)."""
        if self._stopped or seconds >= self.interval:
            return  # the interval's own tick comes sooner
        wanted = datetime.now(UTC) + timedelta(seconds=seconds)
        try:
            job = self.scheduler.get_job(self.job_id)
            if job is None or (job.next_run_time is not None and job.next_run_time <= wanted):
                return
            self.scheduler.modify_job(self.job_id, next_run_time=wanted)
            log.debug("next sweep in %.3f s", seconds)
        except JobLookupError:
            pass  # shutting down


class Listener:
    """LISTEN for wakes from other processes (PostgreSQL), on a dedicated connection in a thread."""

    PING_EVERY = 10.0  # seconds: a query now and then finds a connection that died silently
    WAIT = 1.0  # seconds a wait for notifications lasts before the loop looks at its stop flag

    def __init__(self, conninfo: str, on_wake: Callable[[], None], *, retry_max: float = 5.0) -> None:
        self.conninfo = conninfo
        self.on_wake = on_wake
        self.retry_max = retry_max
        self.connected = threading.Event()  # set while listening (tests wait for it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweep-wake-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        retry = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=LISTENER_NAME,
                    keepalives=1,
                    keepalives_idle=30,
                    keepalives_interval=10,
                    keepalives_count=3,
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    retry = 0.2
                    # A wake sent while this connection was down would be lost: sweep once now.
                    self.on_wake()
                    self._listen(conn)
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("wake listener lost its connection (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
            self._stop.wait(retry)
            retry = min(retry * 2, self.retry_max)

    def _listen(self, conn: Any) -> None:
        pinged = time.monotonic()
        while not self._stop.is_set():
            woken = False
            # Back with the first notification (and any in the same packet): without
            # `stop_after`, `notifies` waits out its whole timeout before the loop ends, which
            # held every wake for up to a second (the panic -> text p99 of P1 was 0.9 s).
            for _ in conn.notifies(timeout=self.WAIT, stop_after=1):
                woken = True  # several notifications in one packet make one wake
            if woken:
                self.on_wake()
            if time.monotonic() - pinged >= self.PING_EVERY:
                conn.execute("SELECT 1")
                pinged = time.monotonic()


class Poller:
    """SQLite beside a separate worker: look for a deadline passed since the last sweep began."""

    def __init__(self, app: Flask, sweeper: Sweeper, every: float) -> None:
        self.app = app
        self.sweeper = sweeper
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweep-wake-poller", daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            began = self.sweeper.last_began
            if began is None:
                continue  # the first sweep has not started: it will find everything
            try:
                with self.app.app_context():
                    moment = sweep.next_due(began)
            except Exception:
                log.exception("wake poll failed")
                continue
            if moment is not None and moment <= self.app.extensions["safetycheck.clock"].now():
                self.sweeper.wake()


def conninfo_of(app: Flask) -> str | None:
    """The libpq address of the app's database, if it is PostgreSQL (None on SQLite)."""
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
