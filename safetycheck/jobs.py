"""Periodic tasks registered by the package that owns them and run by the escalation sweep.

A task takes `now` and returns how much it did. The sweep runs each in its own transaction and
commits it, so one failing task cannot roll back another's work. Tasks may run in several
processes at once: they must claim rows (`FOR UPDATE SKIP LOCKED`) or write with dedupe keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

SweepTask = Callable[[datetime], int]

_TASKS: dict[str, SweepTask] = {}


def sweep_task(name: str) -> Callable[[SweepTask], SweepTask]:
    """Register a function to run at every sweep, after the escalation steps."""

    def register(func: SweepTask) -> SweepTask:
        _TASKS[name] = func
        return func

    return register


def registered_tasks() -> dict[str, SweepTask]:
    return dict(_TASKS)
