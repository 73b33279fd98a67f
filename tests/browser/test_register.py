"""The register and its summary in a real browser, on the demo organisation's five months of
history (`demo --with-incidents`): a lead filters, sorts, downloads the CSV, and reads every chart.
Screenshots at 1280 and 768 px go to docs/screenshots/."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from safetycheck.cli import DEMO_PASSWORD
from safetycheck.incidents.enums import IncidentCategory, IncidentStatus
from safetycheck.incidents.models import Incident
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

CHARTS = ("trend", "ratio", "rates", "households", "lag")


@pytest.fixture
def demo_register(live_server, demo_org) -> dict[str, Any]:
    """The demo organisation with its register history, as `./dev run` starts it."""
    result = live_server.app.test_cli_runner().invoke(args=["demo", "--with-incidents"])
    assert result.exit_code == 0, result.output
    assert "demo register: " in result.output
    return demo_org


def incident_ids(live_server, *where: Any) -> set[int]:
    with live_server.session() as s:
        return set(s.scalars(sa.select(Incident.id).where(Incident.status != IncidentStatus.DRAFT, *where)))


def table_ids(page) -> list[int]:
    links = page.locator(".sc-register-table tbody a[href^='/register/incidents/']")
    return [
        int(href.rsplit("/", 1)[1])
        for href in links.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    ]


def test_a_lead_filters_the_register_and_downloads_exactly_those_rows(
    page, live_server, demo_register, tmp_path: Path
) -> None:
    sign_in(page, demo_register["lead"], DEMO_PASSWORD)
    expect(page).to_have_url(live_server.url + "/register")
    everyone = incident_ids(live_server)
    expect(page.get_by_role("heading", name=f"{len(everyone)} incidents")).to_be_visible()
    screenshot(page, "register")

    page.get_by_label("Category").select_option(label="Verbal abuse")
    page.get_by_label("Near miss").select_option(label="Incidents only")
    page.get_by_role("button", name="Apply filters").click()
    # The filters are in the URL, so this view can be bookmarked.
    expect(page).to_have_url(re.compile(r"category=verbal_abuse.*near_miss=false"))
    wanted = incident_ids(
        live_server, Incident.category == IncidentCategory.VERBAL_ABUSE, Incident.near_miss.is_(False)
    )
    assert 1 < len(wanted) < len(everyone)
    expect(page.get_by_role("heading", name=f"{len(wanted)} incidents")).to_be_visible()
    assert set(table_ids(page)) == wanted

    # Oldest first, by the column heading; its aria-sort says so.
    page.get_by_role("link", name="Occurred").click()
    heading = page.locator("th", has=page.get_by_role("link", name="Occurred"))
    expect(heading).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"sort=occurred_at"))
    shown = table_ids(page)
    assert set(shown) == wanted

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("incidents-")
    assert download.suggested_filename.endswith(".csv")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    exported = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [int(row["id"]) for row in exported] == shown  # exactly the filtered rows, in that order
    assert {row["category"] for row in exported} == {"verbal_abuse"}


def test_a_lead_opens_the_summary_and_every_chart_has_data(page, live_server, demo_register) -> None:
    sign_in(page, demo_register["lead"], DEMO_PASSWORD)
    page.get_by_role("link", name="Summary").click()
    expect(page.get_by_role("heading", name="Summary", exact=True)).to_be_visible()
    for name in CHARTS:
        canvas = page.locator(f"canvas[data-chart='{name}']")
        expect(canvas).to_be_visible()
        # Drawn: Chart.js owns the canvas, its data is not all zero, and pixels were painted.
        drawn = canvas.evaluate(
            """canvas => {
                const chart = window.Chart.getChart(canvas);
                if (!chart) return {chart: false};
                const values = chart.data.datasets.flatMap(d => d.data);
                const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                let painted = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
                return {chart: true, values: values.length, nonzero: values.some(v => v > 0), painted};
            }"""
        )
        assert drawn["chart"], name
        assert drawn["values"] > 0, name
        assert drawn["nonzero"], name
        assert drawn["painted"] > 1000, (name, drawn)
        # The same numbers in a table beside it.
        expect(page.locator(f"#table-{name} tbody tr").first).to_be_visible()
        assert page.locator(f"#table-{name} tbody tr").count() > 0, name
    expect(page.get_by_role("heading", name="RIDDOR deadlines")).to_be_visible()
    expect(page.get_by_role("heading", name="Overdue procedure steps")).to_be_visible()
    expect(page.get_by_role("heading", name="Markers due for review")).to_be_visible()
    screenshot(page, "register-summary")
    page.locator("#signals-heading").evaluate("el => el.scrollIntoView()")
    screenshot(page, "register-summary-charts")

    # A repeat household's link opens the register filtered on that address.
    page.locator("#table-households tbody a").first.click()
    expect(page).to_have_url(re.compile(r"/register\?household_id=\d+"))
    expect(page.get_by_text("14 Elm Road, Leeds LS6 2QT").first).to_be_visible()


def test_the_register_and_summary_at_768_px_and_a_bad_date(tablet_page, live_server, demo_register) -> None:
    page = tablet_page
    sign_in(page, demo_register["lead"], DEMO_PASSWORD)
    page.get_by_label("From").fill("last Tuesday")
    page.get_by_role("button", name="Apply filters").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("From must be a date, like 2026-03-01")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("From")).to_be_focused()
    page.get_by_label("From").fill("2026-01-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator(".govuk-error-summary")).to_have_count(0)
    expect(page.locator(".sc-register-table")).to_be_visible()
    # The table scrolls inside its wrapper; the page itself never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("#results").evaluate("el => el.scrollIntoView()")
    screenshot(page, "register-768")
    page.get_by_role("link", name="Summary").click()
    expect(page.locator("canvas[data-chart='trend']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "register-summary-768")
