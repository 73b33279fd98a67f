"""Shapes of the register over time for the summary's charts: the monthly trend by category and
how long people wait before reporting.

Same reach, period and months as `summary` (drafts left out, UTC calendar months), so a chart and
the summary's figures always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.extensions import db
from safetycheck.incidents.enums import IncidentCategory
from safetycheck.incidents.models import Incident
from safetycheck.reporting.rollups import bucket_bounds
from safetycheck.reporting.summary import Period, _incident_filter, _month, _month_name, _months

if TYPE_CHECKING:
    from safetycheck.reporting.figures_model import Figures


@dataclass(frozen=True)
class LagBand:
    label: str
    up_to_hours: float | None  # exclusive upper bound; None: no bound


# A report within the day is the norm; days or weeks later says people hesitate to report.
LAG_BANDS = (
    LagBand("Within 1 hour", 1),
    LagBand("1 to 24 hours", 24),
    LagBand("1 to 3 days", 72),
    LagBand("3 to 7 days", 168),
    LagBand("Over 7 days", None),
)


def monthly_by_category(
    user: User, *, period: Period, team_id: int | None = None, figures: Figures | None = None
) -> dict[str, Any]:
    """Reports per month and category: `{months, categories, counts: {category: [n per month]}}`.

    Only categories with at least one report in the period are listed (most reported first), so
    that a chart's legend and its table stay readable.
    """
    rows: list[Any]
    if figures is not None:
        rows = [(month, category, values[0]) for (month, _, category), values in figures.counts.items()]
    else:
        month = _month(Incident.occurred_at).label("month")
        rows = list(
            db.session.execute(
                sa.select(month, Incident.category, sa.func.count())
                .where(*_incident_filter(user, period, team_id))
                .group_by(month, Incident.category)
            )
        )
    months = _months(period)
    index = {name: i for i, name in enumerate(months)}
    counts: dict[str, list[int]] = {}
    for value, category, n in rows:
        name = _month_name(value)
        if name not in index:  # cannot happen inside the period; kept safe for odd offsets
            continue
        key = str(category or IncidentCategory.OTHER)
        counts.setdefault(key, [0] * len(months))[index[name]] += n
    categories = sorted(counts, key=lambda c: (-sum(counts[c]), c))
    return {"months": months, "categories": categories, "counts": {c: counts[c] for c in categories}}


def lag_bands(
    user: User, *, period: Period, team_id: int | None = None, figures: Figures | None = None
) -> list[dict[str, Any]]:
    """How many reports came within an hour, a day, three days, a week, or later."""
    if figures is not None:
        return _bands_from(figures)
    seconds = _lag_seconds()
    band = sa.case(
        *((seconds < b.up_to_hours * 3600, i) for i, b in enumerate(LAG_BANDS) if b.up_to_hours is not None),
        else_=len(LAG_BANDS) - 1,
    ).label("band")
    counted: dict[int, int] = dict(
        db.session.execute(
            sa.select(band, sa.func.count())
            .where(*_incident_filter(user, period, team_id), Incident.reported_at.is_not(None))
            .group_by(band)
        ).all()
    )
    return [{"band": b.label, "reports": int(counted.get(i, 0))} for i, b in enumerate(LAG_BANDS)]


def _bands_from(figures: Figures) -> list[dict[str, Any]]:
    """The bands from the rollups' lag buckets: each bucket lies inside one band (hour boundaries)."""
    counted = [0] * len(LAG_BANDS)
    for bucket, reports in figures.lags.items():
        _, high = bucket_bounds(bucket)
        band = next(
            (
                i
                for i, b in enumerate(LAG_BANDS)
                if b.up_to_hours is not None and high is not None and high <= b.up_to_hours * 3600
            ),
            len(LAG_BANDS) - 1,
        )
        counted[band] += reports
    return [{"band": b.label, "reports": counted[i]} for i, b in enumerate(LAG_BANDS)]


def _lag_seconds() -> Any:
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.extract("epoch", Incident.reported_at - Incident.occurred_at)
    # julianday is a float of days: an hour comes back as 3599.99... s, so round to the second.
    days = sa.func.julianday(Incident.reported_at) - sa.func.julianday(Incident.occurred_at)
    return sa.func.round(days * 86400.0)
