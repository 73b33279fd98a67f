"""APScheduler wiring: the sweep as an interval job, in the web process or a worker process.

APScheduler 3 runs one scheduler per process: two gunicorn workers sweep twice, and
`flask run --debug` would start two (the reloader). The claims make that harmless; in
production the sweep runs in its own `safetycheck worker` process.

The interval is the safety net, not the pace: after each sweep the job's next run is brought
forward to the earliest deadline the parts know of, and a committed panic, duress check-out or
serious incident brings it forward to now (`engine/wake.py`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime
from typing import Any

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import undefined
from flask import Flask

from safetycheck.engine import wake
from safetycheck.engine.sweep import run_sweep

log = logging.getLogger(__name__)

JOB_ID = "escalation-sweep"


def _add_sweep_job(scheduler: Any, app: Flask, first_run: datetime | None = None) -> wake.Sweeper:
    sweeper = wake.Sweeper(app, scheduler, JOB_ID)
    scheduler.add_job(
        sweeper,
        "interval",
        id=JOB_ID,
        next_run_time=first_run or undefined,
        seconds=app.config["SWEEP_INTERVAL_SECONDS"],
        # Never two sweeps at once in this process: `Sweeper` enforces it with a lock (a second
        # instance only marks "sweep again"). APScheduler's own limit of one would skip a run
        # brought forward from the end of the previous one, and fall back to the next tick.
        max_instances=2,
        coalesce=True,  # after a pause, run once, not once per missed interval
        misfire_grace_time=None,
        replace_existing=True,
    )
    return sweeper


class Wakers:
    """What wakes one process's sweep early: commits in this process, and other processes'."""

    def __init__(self, app: Flask, sweeper: wake.Sweeper) -> None:
        self.sweeper = sweeper
        wake.add_local_waker(sweeper.wake)
        self.listener: wake.Listener | None = None
        self.poller: wake.Poller | None = None
        conninfo = wake.conninfo_of(app)
        if conninfo is not None:
            self.listener = wake.Listener(conninfo, sweeper.wake).start()
        elif app.config["WAKE_POLL_SECONDS"] > 0:
            self.poller = wake.Poller(app, sweeper, app.config["WAKE_POLL_SECONDS"]).start()

    def stop(self) -> None:
        self.sweeper.stop()
        wake.remove_local_waker(self.sweeper.wake)
        for thread in (self.listener, self.poller):
            if thread is not None:
                thread.stop()


def start_background(app: Flask) -> BackgroundScheduler:
    """Sweep in a thread of this (web) process: the embedded default."""
    scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
    # The first sweep at once: it finds what fell due meanwhile and learns the next deadline.
    sweeper = _add_sweep_job(scheduler, app, first_run=datetime.now(UTC))
    scheduler.start()
    app.extensions["safetycheck.scheduler"] = scheduler
    app.extensions["safetycheck.wakers"] = Wakers(app, sweeper)
    log.info("escalation sweep every %ss in this process", app.config["SWEEP_INTERVAL_SECONDS"])
    return scheduler


def stop_background(app: Flask) -> None:
    """Stop the embedded scheduler, letting a sweep in progress finish."""
    wakers = app.extensions.pop("safetycheck.wakers", None)
    if wakers is not None:
        wakers.stop()
    scheduler = app.extensions.pop("safetycheck.scheduler", None)
    if scheduler is not None:
        scheduler.shutdown(wait=True)


def should_start_in_process(app: Flask) -> bool:
    """Start with the web server (`flask run`, gunicorn), never for other CLI commands or tests."""
    if not app.config["SCHEDULER_ENABLED"] or app.testing:
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True  # a WSGI server imported the app
    command = ctx.find_root().invoked_subcommand
    if command != "run":
        return False  # db upgrade, demo, worker (which runs its own), shell …
    # `flask run --debug` starts the app twice; sweep only in the reloader's child.
    debug = os.environ.get("FLASK_DEBUG", "").lower() in {"1", "true"}
    return not debug or os.environ.get("WERKZEUG_RUN_MAIN") == "true"


@click.command("worker")
def worker_command() -> None:
    """Run the escalation sweep in the foreground (production: one or more of these)."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        # Only note it: the sweep runs in the scheduler's thread and must not be interrupted.
        log.info("signal %s: finishing the current sweep, then stopping", signum)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    scheduler = BackgroundScheduler(timezone="UTC")
    # The first sweep at once: what fell due while nothing swept is done now.
    sweeper = _add_sweep_job(scheduler, app, first_run=datetime.now(UTC))
    scheduler.start()
    wakers = Wakers(app, sweeper)
    how = (
        "LISTEN"
        if wakers.listener
        else f"a {app.config['WAKE_POLL_SECONDS']}s poll"
        if wakers.poller
        else "none"
    )
    click.echo(
        f"sweeping at each deadline and at least every {app.config['SWEEP_INTERVAL_SECONDS']}s "
        f"(woken by {how}); Ctrl-C or SIGTERM to stop"
    )
    while not stopping.wait(timeout=1):
        pass
    wakers.stop()
    # A deploy sends SIGTERM: let the sweep in progress finish its sends and records, so no text
    # is left claimed but unrecorded (it would wait out the stale-claim threshold).
    scheduler.shutdown(wait=True)
    click.echo("worker stopped")


@click.command("sweep")
def sweep_command() -> None:
    """Run one sweep and print what it did (for cron, or to look)."""
    from flask import current_app

    report = run_sweep(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(report.summary())
