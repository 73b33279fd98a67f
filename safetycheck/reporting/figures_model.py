"""The figures the summary is drawn from, gathered from rollups and live counts (`figures.py`).

On its own so that the summary and the trends can name the type without importing how the
figures are gathered (which needs the summary's own helpers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safetycheck.reporting import rollups

CountKey = tuple[str, int | None, str | None]  # month, team, category


@dataclass
class Figures:
    """Counts per month, team and category; visits per month and team; lag buckets; top lists."""

    plan: rollups.Plan
    as_of: datetime
    counts: dict[CountKey, list[int]] = field(default_factory=dict)  # incidents, near, harmed, marked
    visits: dict[tuple[str, int | None], int] = field(default_factory=dict)
    lags: dict[int, int] = field(default_factory=dict)
    lag: dict[str, Any] = field(default_factory=dict)
    households: list[dict[str, Any]] = field(default_factory=list)
    reporters: list[dict[str, Any]] = field(default_factory=list)

    def freshness(self) -> dict[str, Any]:
        """What the answer says about itself: exact as of `as_of`, and how much came from rollups."""
        return {
            "figures_as_of": self.as_of,
            "rolled_up_through": self.plan.sealed_through,
            "rollups_refreshed_at": self.plan.refreshed_at,
            "months_from_rollups": len(self.plan.rolled),
        }
