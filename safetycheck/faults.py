"""Crash injection for the reliability tests: die with SIGKILL at a named point.

`SAFETYCHECK_CRASH_POINTS=after_claim,after_send` makes this process kill itself the first time
it reaches each listed point. Production never sets it; the crash tests use it to prove that a
process dying anywhere loses no escalation step and sends none twice.
"""

from __future__ import annotations

import os
import signal

_POINTS = frozenset(p.strip() for p in os.environ.get("SAFETYCHECK_CRASH_POINTS", "").split(",") if p.strip())


def crash_point(name: str) -> None:
    if name in _POINTS:
        os.kill(os.getpid(), signal.SIGKILL)
