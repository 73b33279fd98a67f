"""Register date filters take a plain date as a whole local day, in the list, the CSV and the summary.

The day is the service's (SAFETYCHECK_DISPLAY_TIMEZONE, Europe/London): in July that is BST, so
1 July runs from 23:00 UTC on 30 June to 23:00 UTC on 1 July.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from safetycheck.accounts.models import User
from safetycheck.extensions import db
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory

MOMENTS = {
    "june_30_late": datetime(2026, 6, 30, 22, 30, tzinfo=UTC),  # 23:30 BST on 30 June
    "july_1_early": datetime(2026, 6, 30, 23, 30, tzinfo=UTC),  # 00:30 BST on 1 July
    "july_1_noon": datetime(2026, 7, 1, 11, 0, tzinfo=UTC),
    "july_2_early": datetime(2026, 7, 1, 23, 30, tzinfo=UTC),  # 00:30 BST on 2 July
}


@pytest.fixture
def reports(app, org, clock) -> dict[str, int]:
    ids = {}
    with app.app_context():
        worker = db.session.get(User, org.practitioner.id)
        for key, moment in MOMENTS.items():
            incident = incident_service.report(
                worker,
                occurred_at=moment,
                category=IncidentCategory.VERBAL_ABUSE,
                description=f"Report {key}",
                near_miss=False,
                harmed=False,
                now=moment + timedelta(minutes=5),
            )
            ids[key] = incident.id
        db.session.commit()
    clock.set(datetime(2026, 7, 10, 9, 0, tzinfo=UTC))
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("occurred_from=2026-07-01&occurred_to=2026-07-01", ["july_1_noon", "july_1_early"]),
        ("occurred_from=2026-07-01", ["july_2_early", "july_1_noon", "july_1_early"]),
        ("occurred_to=2026-06-30", ["june_30_late"]),
        ("occurred_from=2026-06-30&occurred_to=2026-07-02", list(reversed(MOMENTS))),
        # A date and a time mix; a time is still taken as it is (to exclusive).
        ("occurred_from=2026-07-01&occurred_to=2026-07-01T11:00:00%2B00:00", ["july_1_early"]),
    ],
)
def test_a_plain_date_is_the_whole_local_day(as_user, org, reports, query, expected):
    listed = as_user(org.lead).get(f"/api/v1/incidents?{query}")
    assert listed.status_code == 200, listed.get_json()
    assert [item["id"] for item in listed.get_json()["items"]] == [reports[k] for k in expected]

    exported = as_user(org.lead).get(f"/api/v1/incidents/export.csv?{query}")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert sorted(int(row["id"]) for row in rows) == sorted(reports[k] for k in expected)


def test_the_summary_takes_dates_too(as_user, org, reports):
    answer = as_user(org.lead).get(
        "/api/v1/incidents/summary?occurred_from=2026-07-01&occurred_to=2026-07-01"
    )
    assert answer.status_code == 200, answer.get_json()
    summary = answer.get_json()
    assert summary["totals"]["incidents"] == 2
    assert summary["period"] == {"from": "2026-06-30T23:00:00+00:00", "to": "2026-07-01T23:00:00+00:00"}


@pytest.mark.parametrize(
    "query",
    [
        "occurred_from=2026-13-01",
        "occurred_from=2026-02-30",
        "occurred_to=9999-12-31",
        "occurred_from=2026-07-01T00:00:00",  # a time still needs its offset
        "occurred_from=1st%20July",
        "occurred_from=2026-07-02&occurred_to=2026-07-01",
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/v1/incidents", "/api/v1/incidents/export.csv", "/api/v1/incidents/summary"]
)
def test_a_bad_date_is_422_naming_the_filter(as_user, org, query, path):
    answer = as_user(org.lead).get(f"{path}?{query}")
    assert answer.status_code == 422, answer.data[:200]
    assert {"occurred_from", "occurred_to"} & set(answer.get_json()["errors"])


def test_the_openapi_document_offers_a_date_or_a_time(client):
    document = client.get("/openapi.json").get_json()
    for path in ("/api/v1/incidents", "/api/v1/incidents/export.csv", "/api/v1/incidents/summary"):
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        for name in ("occurred_from", "occurred_to"):
            schema = parameters[name]["schema"]
            assert schema["type"] == "string"
            assert schema["anyOf"] == [{"format": "date"}, {"format": "date-time"}]
            assert "date" in parameters[name]["description"]
