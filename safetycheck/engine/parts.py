"""Sweep parts, registered by the package that owns them and run by the engine in a declared order.

A part is a function of (session, now) that returns how much it did. The engine runs each in
its own transaction and commits it, so one failing part cannot roll back another's work. Parts
may run in several processes at once: they must claim rows (`FOR UPDATE SKIP LOCKED`) or write
with dedupe keys.

The order is declared by stage, as GoAlert's engine runs its modules in a fixed order each cycle:
deadlines first (visits go overdue, workers are reminded), then escalation steps, then every
other domain's periodic work, and last the delivery of the texts all of them wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Stages, in the order a sweep runs them; within a stage, parts run by their `order`, then name
# (never by import order, which differs between a worker, the web process and a test run).
DEADLINES = 10  # visits: mark overdue, remind
ESCALATION = 20  # escalation: advance due alarm steps
PERIODIC = 50  # other domains' periodic work (incidents, accounts)
DELIVERY = 90  # escalation: drain the outbox

Part = Callable[[Any, datetime], int]  # (session, now) -> how much it did
OldestDue = Callable[[Any, datetime], datetime | None]
NextDue = Callable[[Any, datetime], datetime | None]  # (session, since) -> earliest deadline after since


@dataclass(frozen=True)
class SweepPart:
    name: str
    run: Part
    stage: int
    order: int = 0
    # Batched parts do at most `batch` items a call: the engine calls again while a call is full,
    # delivering in between, so the first texts of a backlog leave in seconds.
    batch: int | None = None
    delivers: bool = False  # sends what the other parts decided (run between their batches too)
    # The oldest deadline of this part's that has passed but not been acted on (for the lag metric).
    oldest_due: OldestDue | None = None
    # The earliest deadline of this part's after the given moment (the start of the sweep): the
    # engine sleeps until the earliest of them, not the whole interval (`engine/wake.py`).
    next_due: NextDue | None = None
    # The urgent share of this part's work (a panic's first step), cheap when there is none: the
    # engine also runs it between the batches of every other part, before delivering, so a panic
    # pressed while a backlog of 1,000 overdue visits is being marked does not wait for all of them.
    urgent: Part | None = None


_PARTS: dict[str, SweepPart] = {}


def sweep_part(
    name: str,
    *,
    stage: int = PERIODIC,
    order: int = 0,
    batch: int | None = None,
    delivers: bool = False,
    oldest_due: OldestDue | None = None,
    next_due: NextDue | None = None,
    urgent: Part | None = None,
) -> Callable[[Part], Part]:
    """Register a function to run at every sweep in its stage."""

    def register(func: Part) -> Part:
        _PARTS[name] = SweepPart(
            name=name,
            run=func,
            stage=stage,
            order=order,
            batch=batch,
            delivers=delivers,
            oldest_due=oldest_due,
            next_due=next_due,
            urgent=urgent,
        )
        return func

    return register


def registered_parts() -> list[SweepPart]:
    """Every part in the order a sweep runs them."""
    return sorted(_PARTS.values(), key=lambda part: (part.stage, part.order, part.name))
