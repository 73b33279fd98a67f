"""/register and /register/summary with the Flask test client: who may open them, what each role
sees, the filters in the URL, paging, sorting, the CSV of exactly the filtered rows, and that a
bad filter is a form error naming its field."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest

from safetycheck.incidents.enums import IncidentCategory
from tests import factories
from tests.conftest import START

HIGH_ST = "12 High Street, Leeds LS1 4AP"
ROW_LINK = re.compile(r'href="/register/incidents/(\d+)"')


@dataclass
class Register:
    abuse: int  # our team, 40 days ago, at High Street
    assault: int  # our team, harmed, 20 days ago (reported 5 days ago), at High Street
    near_miss: int  # our team, a near miss, 10 days ago
    threat: int  # the other team, 5 days ago
    dog: int  # the other team, a near miss with an animal, 2 days ago
    household_id: int

    @property
    def ours(self) -> set[int]:
        return {self.abuse, self.assault, self.near_miss}

    @property
    def everyone(self) -> set[int]:
        return self.ours | {self.threat, self.dog}


@pytest.fixture
def incidents(app, org, clock) -> Register:
    days = lambda n: START - timedelta(days=n)  # noqa: E731
    with app.app_context():
        make = factories.make_incident
        abuse = make(org.practitioner, occurred_at=days(40), address=HIGH_ST)
        assault = make(
            org.practitioner,
            occurred_at=days(20),
            category=IncidentCategory.PHYSICAL_ASSAULT,
            harmed=True,
            address="12 high st ls14ap",
            lag=timedelta(days=15),  # reported after the near miss and before the threat
        )
        near_miss = make(org.colleague, occurred_at=days(10), category=IncidentCategory.OTHER, near_miss=True)
        threat = make(org.other_practitioner, occurred_at=days(5), category=IncidentCategory.THREAT)
        dog = make(
            org.other_practitioner, occurred_at=days(2), category=IncidentCategory.ANIMAL, near_miss=True
        )
        factories.make_visits(org.practitioner, count=10, first=days(45))
        factories.make_visits(org.other_practitioner, count=10, first=days(45), every=timedelta(days=3))
        quiet = factories.make_team(now=clock.now(), name="Quiet team")
        factories.make_visits(factories.make_user(now=clock.now(), team=quiet), count=20, first=days(30))
        assert abuse.household_id is not None
        assert abuse.household_id == assault.household_id
        return Register(abuse.id, assault.id, near_miss.id, threat.id, dog.id, abuse.household_id)


def rows(response) -> list[int]:
    """The incident ids of the register table, in order."""
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [int(i) for i in ROW_LINK.findall(response.get_data(as_text=True))]


def csv_ids(response) -> list[int]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return [int(r["id"]) for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))]


def error_summary(response) -> str:
    text = response.get_data(as_text=True)
    match = re.search(r'<div class="govuk-error-summary".*?</div>\s*</div>\s*</div>', text, re.S)
    assert match, "no error summary on the page"
    return html.unescape(match.group(0))


# --- who may open the pages ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/register", "/register/summary", "/register/export.csv"])
def test_a_stranger_is_sent_to_sign_in(web, url) -> None:
    response = web.get(url)
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


@pytest.mark.parametrize("url", ["/register", "/register/summary", "/register/export.csv"])
def test_a_practitioner_gets_the_403_page(web_as, org, url) -> None:
    assert web_as(org.practitioner).get(url).status_code == 403


def test_a_lead_lands_on_the_register_and_sees_every_team(web, web_as, org, incidents) -> None:
    web.get("/login")
    landing = web.post("/login", {"email": org.lead.email, "password": factories.PASSWORD})
    assert landing.location == "/register"
    lead = web_as(org.lead)
    page = lead.get("/register")
    assert set(rows(page)) == incidents.everyone
    text = page.get_data(as_text=True)
    assert "5 incidents" in text
    assert org.team.name in text
    assert org.other_team.name in text


def test_a_manager_sees_only_their_team(web_as, org, incidents) -> None:
    manager = web_as(org.manager)
    page = manager.get("/register")
    assert set(rows(page)) == incidents.ours
    text = page.get_data(as_text=True)
    assert org.other_team.name not in text  # not even in the team list
    # Asking for the other team's incidents finds none, exactly as the API does.
    assert rows(manager.get(f"/register?team_id={org.other_team.id}")) == []
    assert csv_ids(manager.get("/register/export.csv")) == sorted(incidents.ours, reverse=True)


def test_an_admin_reads_the_register_as_the_api_allows(web_as, org, incidents) -> None:
    admin = web_as(org.admin)
    assert set(rows(admin.get("/register"))) == incidents.everyone
    assert admin.get("/register/summary").status_code == 200


def test_each_row_links_to_its_incident_page(web_as, org, incidents) -> None:
    text = web_as(org.lead).get("/register").get_data(as_text=True)
    for incident_id in incidents.everyone:
        assert f'href="/register/incidents/{incident_id}"' in text


# --- filters ------------------------------------------------------------------------------------


def test_filters_in_the_url_narrow_the_register(web_as, org, incidents) -> None:
    lead = web_as(org.lead)
    assert rows(lead.get("/register?category=threat")) == [incidents.threat]
    assert rows(lead.get("/register?near_miss=true")) == [incidents.dog, incidents.near_miss]
    assert rows(lead.get("/register?near_miss=yes")) == [incidents.dog, incidents.near_miss]  # as the API
    assert set(rows(lead.get("/register?near_miss=false"))) == {
        incidents.abuse,
        incidents.assault,
        incidents.threat,
    }
    assert set(rows(lead.get(f"/register?team_id={org.team.id}"))) == incidents.ours
    assert rows(lead.get("/register?status=closed")) == []
    assert len(rows(lead.get("/register?status=reported"))) == 5
    page = lead.get(f"/register?household_id={incidents.household_id}")
    assert rows(page) == [incidents.assault, incidents.abuse]
    assert HIGH_ST in page.get_data(as_text=True)  # the filter says which address it is
    # Empty fields (as a submitted GET form sends them) are no filter at all.
    assert (
        len(rows(lead.get("/register?category=&near_miss=&team_id=&status=&household_id=&occurred_from=")))
        == 5
    )


def test_plain_dates_are_whole_local_days_as_in_the_api(web_as, org, incidents) -> None:
    lead = web_as(org.lead)
    ten_days_ago = (START - timedelta(days=10)).date().isoformat()
    five_days_ago = (START - timedelta(days=5)).date().isoformat()
    assert rows(lead.get(f"/register?occurred_from={ten_days_ago}&occurred_to={five_days_ago}")) == [
        incidents.threat,
        incidents.near_miss,
    ]
    # The same day on both sides is that whole day.
    assert rows(lead.get(f"/register?occurred_from={five_days_ago}&occurred_to={five_days_ago}")) == [
        incidents.threat
    ]
    moment = (START - timedelta(days=3)).isoformat().replace("+", "%2B")
    assert rows(lead.get(f"/register?occurred_from={moment}")) == [incidents.dog]


def test_the_form_shows_the_filters_it_applied(web_as, org, incidents) -> None:
    text = web_as(org.lead).get("/register?category=threat&near_miss=false").get_data(as_text=True)
    assert re.search(r'<option value="threat" selected', text)
    assert re.search(r'<option value="false" selected', text)
    assert 'method="get"' in text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("occurred_from=yesterday", "occurred_from", "From must be a date, like 2026-03-01"),
        ("occurred_to=2026-02-30", "occurred_to", "To must be a date"),
        ("occurred_from=2026-03-01T09:00:00", "occurred_from", "a time with a UTC offset"),
        ("occurred_from=2026-03-02&occurred_to=2026-03-01", "occurred_to", "To must be after From"),
        ("team_id=north", "team_id", "Team must be one of the teams"),
        ("team_id=99999999999", "team_id", "Team must be one of the teams"),
        ("category=fight", "category", "Category must be one of the categories"),
        ("near_miss=maybe", "near_miss", "Near miss must be yes or no"),
        ("status=lost", "status", "Status must be one of the statuses"),
        ("household_id=-3", "household_id", "Household number must be a whole number"),
        ("household_id=١٢", "household_id", "Household number must be a whole number"),
        ("page=0", "page", "Page must be a whole number"),
        ("per_page=5000", "per_page", "Rows per page must be"),
        ("sort=password", "sort", "Sort must be one of the column headings"),
    ],
)
def test_a_bad_filter_is_a_form_error_naming_its_field(web_as, org, incidents, query, field, message) -> None:
    lead = web_as(org.lead)
    for url in (f"/register?{query}", f"/register/export.csv?{query}"):
        response = lead.get(url)
        assert response.status_code == 422, url
        assert response.mimetype == "text/html"
        summary = error_summary(response)
        assert message in summary
        assert f'href="#{field}"' in summary
        assert "<title>Error: Register" in response.get_data(as_text=True)
        assert ROW_LINK.findall(response.get_data(as_text=True)) == []  # never the unfiltered register


# --- paging and sorting -------------------------------------------------------------------------


def test_paging_keeps_the_filters(web_as, org, incidents) -> None:
    lead = web_as(org.lead)
    first = lead.get("/register?per_page=2&near_miss=false")
    assert len(rows(first)) == 2
    text = html.unescape(first.get_data(as_text=True))
    assert "Page 1 of 2" in text
    assert 'href="?per_page=2&near_miss=false&page=2"' in text
    second = lead.get("/register?per_page=2&near_miss=false&page=2")
    assert len(rows(second)) == 1
    assert set(rows(first) + rows(second)) == {incidents.abuse, incidents.assault, incidents.threat}
    assert rows(lead.get("/register?per_page=2&page=9")) == []  # past the end: an empty page


def test_sorting_by_a_column_heading(web_as, org, incidents) -> None:
    lead = web_as(org.lead)
    newest_first = [incidents.dog, incidents.threat, incidents.near_miss, incidents.assault, incidents.abuse]
    default = lead.get("/register?category=")
    assert rows(default) == newest_first
    text = html.unescape(default.get_data(as_text=True))
    # The current sort is said by aria-sort, and its heading's link turns it round.
    assert re.search(r'aria-sort="descending"><a [^>]*href="\?sort=occurred_at"', text)
    assert re.search(r'aria-sort="none"><a [^>]*href="\?sort=category"', text)
    oldest_first = lead.get("/register?sort=occurred_at")
    assert rows(oldest_first) == newest_first[::-1]
    assert 'aria-sort="ascending"' in oldest_first.get_data(as_text=True)
    by_category = rows(lead.get("/register?sort=category"))
    assert by_category[:2] == [incidents.dog, incidents.near_miss]  # animal, other, ...
    # A later report (a longer lag) sorts by when it was reported.
    assert rows(lead.get("/register?sort=reported_at")) == [
        incidents.abuse,
        incidents.near_miss,
        incidents.assault,
        incidents.threat,
        incidents.dog,
    ]


# --- the CSV ------------------------------------------------------------------------------------


def test_the_download_link_exports_exactly_the_filtered_rows(web_as, org, incidents) -> None:
    lead = web_as(org.lead)
    page = lead.get("/register?near_miss=false&sort=occurred_at&per_page=1")
    link = re.search(
        r'<a class="govuk-link" href="([^"]+)" download>Download CSV</a>', page.get_data(as_text=True)
    )
    assert link, "no Download CSV link"
    href = html.unescape(link.group(1))
    assert href.startswith("/register/export.csv?")
    assert "page" not in href.split("?")[1].replace("sort", "")  # every row, not one page
    exported = lead.get(href)
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="incidents-')
    # All the filtered rows (not one page of them), in the page's order.
    assert csv_ids(exported) == [incidents.abuse, incidents.assault, incidents.threat]


def test_the_csv_quotes_text_a_spreadsheet_would_run(web_as, app, org, clock) -> None:
    with app.app_context():
        factories.make_incident(
            org.practitioner, occurred_at=START - timedelta(days=1), description="=HYPERLINK(evil)"
        )
    exported = web_as(org.lead).get("/register/export.csv")
    (row,) = csv.DictReader(io.StringIO(exported.get_data(as_text=True)))
    assert row["description"] == "'=HYPERLINK(evil)"


def test_an_empty_filter_exports_the_header_only(web_as, org, incidents) -> None:
    exported = web_as(org.lead).get("/register/export.csv?category=sexual_assault")
    assert csv_ids(exported) == []
    assert exported.get_data(as_text=True).startswith("id,status,category")


# --- the summary --------------------------------------------------------------------------------


def chart_json(response) -> dict:
    match = re.search(
        r'<script type="application/json" id="summary-charts">(.*?)</script>',
        response.get_data(as_text=True),
        re.S,
    )
    assert match, "no chart data on the page"
    return json.loads(html.unescape(match.group(1)))


def test_the_summary_has_every_chart_with_its_table(web_as, org, incidents) -> None:
    page = web_as(org.lead).get("/register/summary")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    charts = chart_json(page)
    assert set(charts) == {"trend", "ratio", "rates", "households", "lag"}
    for name, spec in charts.items():
        assert f'data-chart="{name}"' in text, name
        assert f'id="table-{name}"' in text, name
        assert any(any(v for v in d["data"]) for d in spec["datasets"]), name
    trend = {d["label"]: sum(d["data"]) for d in charts["trend"]["datasets"]}
    assert trend == {"Verbal abuse": 1, "Physical assault": 1, "Other": 1, "Threat": 1, "Animal": 1}
    assert charts["rates"]["labels"] == sorted([org.team.name, org.other_team.name, "Quiet team"])
    rates = dict(zip(charts["rates"]["labels"], charts["rates"]["datasets"][0]["data"], strict=True))
    assert rates == {org.team.name: 300.0, org.other_team.name: 200.0, "Quiet team": 0}
    # A team with many visits and no report is named as silent (by a word, not a colour).
    assert "Quiet team: 20 visits, no reports" in text
    assert charts["households"]["labels"] == [HIGH_ST]
    lag = dict(zip(charts["lag"]["labels"], charts["lag"]["datasets"][0]["data"], strict=True))
    assert lag == {
        "Within 1 hour": 0,
        "1 to 24 hours": 4,
        "1 to 3 days": 0,
        "3 to 7 days": 0,
        "Over 7 days": 1,
    }
    # A repeat household links to the register filtered on it.
    assert f'href="/register?household_id={incidents.household_id}"' in text
    assert re.search(r'<th scope="row" class="govuk-table__header[^"]*">Mar 2026</th>', text)


def test_a_manager_summary_covers_their_team_only(web_as, org, incidents) -> None:
    page = web_as(org.manager).get("/register/summary")
    charts = chart_json(page)
    assert charts["rates"]["labels"] == [org.team.name]
    assert sum(sum(d["data"]) for d in charts["trend"]["datasets"]) == 3
    assert org.other_team.name not in page.get_data(as_text=True)


def test_the_summary_period_and_team_filters(web_as, org, incidents) -> None:
    lead = web_as(org.lead)
    since = (START - timedelta(days=12)).date().isoformat()
    charts = chart_json(lead.get(f"/register/summary?occurred_from={since}&team_id={org.other_team.id}"))
    assert sum(sum(d["data"]) for d in charts["trend"]["datasets"]) == 2
    bad = lead.get("/register/summary?occurred_from=last+week&team_id=x")
    assert bad.status_code == 422
    summary = error_summary(bad)
    assert 'href="#occurred_from"' in summary
    assert 'href="#team_id"' in summary
    too_long = lead.get("/register/summary?occurred_from=2000-01-01")
    assert too_long.status_code == 422
    assert "at most 10 years" in error_summary(too_long)


def test_the_summary_lists_deadlines_and_overdue_steps(web_as, org, incidents, clock) -> None:
    # The assault is physical violence: its RIDDOR deadline is open, and nobody acknowledged anything.
    text = web_as(org.lead).get("/register/summary").get_data(as_text=True)
    assert "RIDDOR deadlines" in text
    assert f'href="/register/incidents/{incidents.assault}">Incident {incidents.assault}</a>' in text
    assert "Overdue procedure steps" in text
    assert "Markers due for review" in text
