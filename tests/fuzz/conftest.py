"""The fuzzer's counts, printed at the end of the run (the figures in docs/security.md)."""

from __future__ import annotations

from collections import Counter
from typing import Any

CASES: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    total = CASES.pop("total", 0)
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(CASES.items()))
    terminalreporter.write_line(f"fuzz: {total} cases against /openapi.json ({statuses})")
    CASES["total"] = total
