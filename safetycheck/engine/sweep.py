"""The sweep engine: one cycle over the registered parts, in their declared order.

The engine knows no domain. It owns what every part shares: a transaction per call (commit on
success, roll back and record the error on failure, so one broken part does not stop the
others), repeating batched parts while they have a backlog (delivering in between), timing,
the heartbeat row /readyz reads, and per-part figures. Parts are registered by the package that
owns them (`safetycheck/engine/parts.py`); they claim their rows with `FOR UPDATE SKIP LOCKED`
(on SQLite the write lock taken at BEGIN serialises claims instead), so any number of processes
can sweep at once, and a process killed at any point leaves nothing half-done: what it had not
committed is done by the next sweep.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app

from safetycheck.db import threads_may_write_alongside
from safetycheck.engine.models import SweepHeartbeat
from safetycheck.engine.parts import SweepPart, registered_parts
from safetycheck.extensions import db

log = logging.getLogger(__name__)

MAX_BATCHES = 50  # per part and sweep: a backlog after an outage drains within a few sweeps
# How often delivery alongside a backlog looks for texts when a batch's commit has not woken it.
ALONGSIDE_POLL_SECONDS = 0.05

INSTANCE = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class SweepReport:
    done: dict[str, int] = field(default_factory=dict)  # part name -> how much it did
    seconds: dict[str, float] = field(default_factory=dict)  # part name -> time it took
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    # The earliest deadline after the sweep began (app clock), for the next sweep to start at it.
    next_due: datetime | None = None
    # A batched part stopped at MAX_BATCHES with work left: sweep again at once.
    backlog: bool = False

    def summary(self) -> str:
        parts = " ".join(f"{name}={count}" for name, count in self.done.items())
        return f"{parts} errors={self.errors or 'none'} in {self.duration_ms:.1f} ms"


# The figures of this process's latest sweep, for /metrics.
LATEST: dict[str, SweepReport] = {}


def run_sweep(app: Flask) -> SweepReport:
    """One full sweep; each part commits on its own so one failure does not block the texts."""
    report = SweepReport()
    started = time.perf_counter()
    with app.app_context():
        now: Callable[[], datetime] = app.extensions["safetycheck.clock"].now
        began = now()
        _beat(began, completed=False)
        parts = registered_parts()
        delivery = [part for part in parts if part.delivers]
        # Urgent work first (a woken sweep is most often for a panic): decided and sent before
        # the routine parts, each a transaction of its own, take their turn.
        try:
            _run_urgent(parts, None, now, report)
        except Exception as exc:  # as for any part: reported, and the full parts run next
            db.session.rollback()
            log.exception("sweep: urgent work failed")
            report.errors.append(f"urgent: {type(exc).__name__}")
        for part in parts:
            part_started = time.perf_counter()
            try:
                _run_part(part, delivery, now, report)
            except Exception as exc:  # one broken part must not stop the others
                db.session.rollback()
                log.exception("sweep part %s failed", part.name)
                report.errors.append(f"{part.name}: {type(exc).__name__}")
            report.seconds[part.name] = (
                report.seconds.get(part.name, 0.0) + time.perf_counter() - part_started
            )
        report.next_due = next_due(began)
        report.duration_ms = (time.perf_counter() - started) * 1000
        _beat(now(), completed=True, duration_ms=report.duration_ms, error="; ".join(report.errors) or None)
    LATEST["sweep"] = report
    return report


def _run_part(
    part: SweepPart, delivery: list[SweepPart], now: Callable[[], datetime], report: SweepReport
) -> None:
    alongside: _DeliveryAlongside | None = None
    try:
        for batch in range(MAX_BATCHES if part.batch else 1):
            done = part.run(db.session, now())
            db.session.commit()
            report.done[part.name] = report.done.get(part.name, 0) + done
            if alongside is not None:
                alongside.wake()
            if part.batch is None or done < part.batch:
                return
            if batch == MAX_BATCHES - 1:
                report.backlog = True
            # Urgent work that arrived meanwhile (a panic pressed) is decided before the next batch.
            _run_urgent(registered_parts(), part, now, report)
            # A backlog (after an outage): what this batch decided is sent before the whole backlog
            # is decided, so the first texts leave in seconds. Where threads can write at once
            # (PostgreSQL), sending runs alongside the next batches; otherwise in between them.
            if not delivery:
                continue
            if alongside is None and threads_may_write_alongside(db):
                alongside = _DeliveryAlongside(delivery, now)
            if alongside is None:
                for sender in delivery:
                    _run_part(sender, [], now, report)
    finally:
        if alongside is not None:
            alongside.finish(report)


class _DeliveryAlongside:
    """Delivery parts run over and over in a thread of their own while a backlog is decided.

    Deciding a step costs the sweep's thread some milliseconds of CPU and round trips; sending a
    text costs a sender 200 ms of waiting on Twilio. Run one after the other, batch by batch, a
    burst of 1,000 overdue visits took 30 s, its deciding and its sending each about half. Side by
    side it takes about as long as the slower of the two. The thread is just another sender to
    the database (claims, SKIP LOCKED, the lease): nothing of exactly-once changes. It stops when
    the backlog is decided; the sweep's own delivery part then sends the rest.
    """

    def __init__(self, parts: list[SweepPart], now: Callable[[], datetime]) -> None:
        self._parts = parts
        self._now = now
        self._app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        self._stop = threading.Event()
        self._woken = threading.Event()
        self._done: dict[str, int] = {}
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="sweep-delivery", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A batch was committed: there is something new to send."""
        self._woken.set()

    def finish(self, report: SweepReport) -> None:
        self._stop.set()
        self._woken.set()
        self._thread.join()
        for name, done in self._done.items():
            report.done[name] = report.done.get(name, 0) + done
        report.errors.extend(self._errors)

    def _run(self) -> None:
        with self._app.app_context():  # a session (and connection) of this thread's own
            while not self._stop.is_set():
                self._woken.clear()
                sent = 0
                for part in self._parts:
                    try:
                        done = part.run(db.session, self._now())
                        db.session.commit()
                    except Exception as exc:  # as in the sweep: one broken part stops nothing
                        db.session.rollback()
                        log.exception("sweep part %s failed (delivering alongside)", part.name)
                        error = f"{part.name}: {type(exc).__name__}"
                        if error not in self._errors:  # retried every poll: reported once a sweep
                            self._errors.append(error)
                        self._stop.wait(ALONGSIDE_POLL_SECONDS)
                        continue
                    self._done[part.name] = self._done.get(part.name, 0) + done
                    sent += done
                if not sent:
                    self._woken.wait(ALONGSIDE_POLL_SECONDS)
            db.session.remove()


def _run_urgent(
    parts: list[SweepPart], running: SweepPart | None, now: Callable[[], datetime], report: SweepReport
) -> int:
    """Run every part's urgent share (but the running part's), each committed; how much they did."""
    total = 0
    for part in parts:
        if part.urgent is not None and part is not running:
            done = part.urgent(db.session, now())
            db.session.commit()
            if done:  # counted as the part's own work (a report lists parts in their order)
                report.done[part.name] = report.done.get(part.name, 0) + done
            total += done
    return total


def oldest_due(now: datetime) -> datetime | None:
    """The oldest deadline any part has let pass without acting on it (None: nothing late)."""
    due = [part.oldest_due(db.session, now) for part in registered_parts() if part.oldest_due]
    late = [moment for moment in due if moment is not None]
    return min(late) if late else None


def next_due(since: datetime) -> datetime | None:
    """The earliest deadline any part has after `since`, read in a transaction of its own.

    Counted from the sweep's start, not its end: a deadline that passed while the sweep ran
    (after its part had looked) comes back in the past, and the next sweep starts at once.
    Deadlines before the start that are still pending (rows another process holds, a part that
    failed on them) are left to the interval, so a stuck row cannot make the engine spin.
    """
    found: list[datetime] = []
    for part in registered_parts():
        if part.next_due is None:
            continue
        try:
            moment = part.next_due(db.session, since)
        except Exception:  # a broken query only costs promptness: the interval still sweeps
            db.session.rollback()
            log.exception("sweep part %s could not tell its next deadline", part.name)
            continue
        if moment is not None:
            found.append(moment)
    db.session.rollback()  # read only: end the transaction, hold no snapshot while sleeping
    return min(found) if found else None


def _beat(
    now: datetime, *, completed: bool, duration_ms: float | None = None, error: str | None = None
) -> None:
    try:
        beat = db.session.get(SweepHeartbeat, INSTANCE)
        if beat is None:
            beat = SweepHeartbeat(instance=INSTANCE, started_at=now)
            db.session.add(beat)
        if completed:
            beat.completed_at = now
            beat.duration_ms = duration_ms
            beat.error = error[:300] if error else None
        else:
            beat.started_at = now
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not write the sweep heartbeat")
