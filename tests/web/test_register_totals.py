"""The register page past its exact count says "About N"; the summary page says how fresh it is."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safetycheck.extensions import db
from safetycheck.reporting import rollups
from tests import factories
from tests.conftest import START


def _incidents(app, org, count: int) -> None:
    with app.app_context():
        for n in range(count):
            factories.make_incident(org.practitioner, occurred_at=START - timedelta(days=40 + n))


def test_the_summary_page_says_how_fresh_its_figures_are(app, org, web_as) -> None:
    _incidents(app, org, 2)
    with app.app_context():
        while rollups.refresh_rollups(db.session, START):
            pass
        db.session.commit()
    text = web_as(org.lead).get("/register/summary").get_data(as_text=True)
    assert "Figures as of 2 Mar 2026, 09:00" in text
    assert "months to the end of February 2026 are read from monthly totals" in text


def test_past_the_exact_count_the_page_says_about(app, org, web_as, monkeypatch: pytest.MonkeyPatch) -> None:
    _incidents(app, org, 4)
    monkeypatch.setitem(app.config, "REGISTER_EXACT_TOTAL_UP_TO", 2)
    text = web_as(org.lead).get("/register").get_data(as_text=True)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        assert "About " in text  # the planner's estimate, never below the limit + 1
    else:
        assert "4 incidents" in text
        assert "About " not in text
    monkeypatch.setitem(app.config, "REGISTER_EXACT_TOTAL_UP_TO", 10)
    text = web_as(org.lead).get("/register").get_data(as_text=True)
    assert "4 incidents" in text
    assert "About " not in text
