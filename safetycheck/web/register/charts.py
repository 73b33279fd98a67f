"""The summary's charts as plain data: what `static/js/summary.js` hands to Chart.js.

Each chart is `{type, labels, datasets: [{label, data}], stacked?, horizontal?, unit}` and is
printed in a `<script type="application/json">` block (data, not code, so the CSP allows it).
The tables beside the charts are rendered from the same figures, so both always agree.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from safetycheck.web.register.forms import category_label


def month_label(month: str) -> str:
    """ "2026-03" -> "Mar 2026"."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1).strftime("%b %Y")


def chart_data(data: dict[str, Any], trend: dict[str, Any], lag: list[dict[str, Any]]) -> dict[str, Any]:
    months = [month_label(m["month"]) for m in data["by_month"]]
    return {
        "trend": {
            "type": "bar",
            "stacked": True,
            "labels": [month_label(m) for m in trend["months"]],
            "datasets": [
                {"label": category_label(c), "data": trend["counts"][c]} for c in trend["categories"]
            ],
            "unit": "reports",
        },
        "ratio": {
            "type": "bar",
            "labels": months,
            "datasets": [
                {"label": "Near misses", "data": [m["near_misses"] for m in data["by_month"]]},
                {"label": "Harmed", "data": [m["harmed"] for m in data["by_month"]]},
            ],
            "unit": "reports",
        },
        "rates": {
            "type": "bar",
            "horizontal": True,
            "labels": [t["team"] for t in data["by_team"]],
            "datasets": [
                {
                    "label": "Reports per 1,000 visits",
                    "data": [t["rate_per_1000_visits"] or 0 for t in data["by_team"]],
                }
            ],
            "unit": "per 1,000 visits",
        },
        "households": {
            "type": "bar",
            "horizontal": True,
            "labels": [h["address"] for h in data["repeat_households"]],
            "datasets": [{"label": "Reports", "data": [h["incidents"] for h in data["repeat_households"]]}],
            "unit": "reports",
        },
        "lag": {
            "type": "bar",
            "labels": [band["band"] for band in lag],
            "datasets": [{"label": "Reports", "data": [band["reports"] for band in lag]}],
            "unit": "reports",
        },
    }
