import pytest

from safetycheck.incidents.risk import POSSIBLE_SCORES, RiskBand, risk_band, risk_score


@pytest.mark.parametrize(
    ("consequence", "likelihood", "score"),
    [(1, 1, 1), (1, 5, 5), (5, 1, 5), (3, 4, 12), (4, 4, 16), (4, 5, 20), (5, 5, 25)],
)
def test_score_is_the_product(consequence, likelihood, score):
    assert risk_score(consequence, likelihood) == score


@pytest.mark.parametrize("bad", [0, 6, -1, True, 2.0, "3", None])
def test_score_refuses_values_off_the_matrix(bad):
    with pytest.raises(ValueError, match="consequence must be"):
        risk_score(bad, 3)
    with pytest.raises(ValueError, match="likelihood must be"):
        risk_score(3, bad)


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (1, RiskBand.LOW),
        (4, RiskBand.LOW),  # top edge of low
        (5, RiskBand.MEDIUM),  # bottom edge of medium
        (9, RiskBand.MEDIUM),
        (10, RiskBand.HIGH),
        (16, RiskBand.HIGH),
        (20, RiskBand.VERY_HIGH),
        (25, RiskBand.VERY_HIGH),
    ],
)
def test_band_edges(score, band):
    assert risk_band(score) is band


def test_bands_are_the_stored_strings():
    assert risk_band(12) == "high"
    assert [b.value for b in RiskBand] == ["low", "medium", "high", "very_high"]


def test_every_cell_of_the_matrix_has_a_band():
    counts = {band: 0 for band in RiskBand}
    for consequence in range(1, 6):
        for likelihood in range(1, 6):
            counts[risk_band(risk_score(consequence, likelihood))] += 1

    assert counts == {
        RiskBand.LOW: 8,
        RiskBand.MEDIUM: 7,
        RiskBand.HIGH: 7,
        RiskBand.VERY_HIGH: 3,
    }


@pytest.mark.parametrize("impossible", [0, 7, 11, 17, 18, 19, 21, 26, -4, True, 12.0])
def test_band_refuses_scores_no_product_gives(impossible):
    with pytest.raises(ValueError, match="not a possible risk score"):
        risk_band(impossible)


def test_possible_scores():
    assert sorted(POSSIBLE_SCORES) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 20, 25]
