"""Worker processes forked from a warm fork server, so a killed worker is back in milliseconds.

A `flask --app safetycheck worker` process spends seconds importing before its first sweep
(much longer on a busy machine); a soak that kills one every second or two would mostly kill
processes still importing. Here a multiprocessing fork server imports the application once, and
each worker is forked from it: a process of its own (own pid, own database connections, own
Twilio client) running the real `worker` command, killed with a real SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

PRELOAD = [
    "safetycheck",
    "safetycheck.engine.sweep",
    "safetycheck.engine.scheduler",
    "tests.soak.forked",
]


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    context.set_forkserver_preload(PRELOAD)
    return context


def run_worker(env: dict[str, str], crash_points: str, log_path: str) -> None:
    """The child: settings from `env` (as a subprocess would get them), then the worker command."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update(env)
    # Not a web server: only the worker command's own scheduler sweeps (create_app outside a
    # CLI would otherwise start one in the background as well).
    os.environ["SAFETYCHECK_SCHEDULER_ENABLED"] = "false"
    from safetycheck import create_app, faults
    from safetycheck.engine import scheduler, sweep

    # Both were fixed when the fork server imported them: make them this process's.
    faults._POINTS = frozenset(p for p in crash_points.split(",") if p)
    sweep.INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
    app = create_app()
    with app.app_context():
        scheduler.worker_command.main(args=[], prog_name="worker", standalone_mode=False)
    sys.exit(0)


class ForkedWorker:
    """A forked worker with the parts of `subprocess.Popen` the soak uses."""

    def __init__(self, process: BaseProcess) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.process.exitcode

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 10) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, sig)
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()


class ForkedWorkers:
    """Start forked workers with the environment `Sweepers.env` builds; all stopped on close."""

    def __init__(self, env_for: object, directory: Path) -> None:
        self.env_for = env_for
        self.directory = directory
        self.context = _context()
        self.workers: list[ForkedWorker] = []

    def start(self, *, name: str, crash_points: str = "") -> ForkedWorker:
        env = self.env_for(crash_points=crash_points)  # type: ignore[operator]
        log_path = str(self.directory / f"{len(self.workers):04d}-{name}.log")
        process = self.context.Process(target=run_worker, args=(env, crash_points, log_path), daemon=True)
        process.start()
        worker = ForkedWorker(process)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()

    def __enter__(self) -> ForkedWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
