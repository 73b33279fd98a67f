"""Risk rating of an incident at triage: consequence x likelihood on the common 5 x 5 matrix.

Band edges (inclusive; what each band demands is the organisation's policy, not fixed here):

    low        1-4
    medium     5-9
    high      10-16
    very_high 20-25

Scores between the bands (17-19) and others such as 7 or 11 cannot arise from two factors of
1-5, so ``risk_band`` refuses them: a stray score is a bug (an addition instead of a product),
not a rating to round.
"""

from __future__ import annotations

from enum import StrEnum

SCALE = range(1, 6)
POSSIBLE_SCORES = frozenset(c * likelihood for c in SCALE for likelihood in SCALE)


class RiskBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


# Highest score of each band, in ascending order.
_BAND_TOPS = (
    (4, RiskBand.LOW),
    (9, RiskBand.MEDIUM),
    (16, RiskBand.HIGH),
    (25, RiskBand.VERY_HIGH),
)


def risk_score(consequence: int, likelihood: int) -> int:
    """Multiply consequence by likelihood, both 1-5, refusing anything off the matrix."""
    for name, value in (("consequence", consequence), ("likelihood", likelihood)):
        if isinstance(value, bool) or not isinstance(value, int) or value not in SCALE:
            raise ValueError(f"{name} must be a whole number from 1 to 5, not {value!r}")
    return consequence * likelihood


def risk_band(score: int) -> RiskBand:
    """Name the band of a score from ``risk_score``."""
    if isinstance(score, bool) or not isinstance(score, int) or score not in POSSIBLE_SCORES:
        raise ValueError(f"{score!r} is not a possible risk score (a product of two 1-5 factors)")
    return next(band for top, band in _BAND_TOPS if score <= top)
