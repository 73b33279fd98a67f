"""The register on a small known data set: reach, filters, sorting, paging, CSV and the summary."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from safetycheck.accounts.models import User
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation.enums import AlarmKind
from safetycheck.extensions import db
from safetycheck.households import markers as marker_service
from safetycheck.households.enums import MarkerControl
from safetycheck.incidents import marker_proposals
from safetycheck.incidents import service as incident_service
from safetycheck.incidents.enums import IncidentCategory, NearMissKind
from safetycheck.incidents.models import Incident
from safetycheck.visits import service as visit_service
from tests import factories

HIGH_ST = "12 High Street, Leeds LS1 4AP"
LOW_LANE = "3 Low Lane, Leeds LS2 7AB"
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
PERIOD = "occurred_from=2026-01-01T00:00:00%2B00:00&occurred_to=2026-04-01T00:00:00%2B00:00"


def at(month: int, day: int, hour: float = 9, year: int = 2026) -> datetime:
    return datetime(year, month, day, tzinfo=UTC) + timedelta(hours=hour)


@dataclass
class DataSet:
    ids: dict[str, int]
    zeta_team_id: int
    low_lane_marker_id: int


@pytest.fixture
def data(app, org, clock) -> DataSet:
    """Six reports in the period (two near misses, one harmed), one before it, one draft; 50 visits."""
    with app.app_context():
        zeta = factories.make_team(now=clock.now(), name="Zeta team")
        zeta_worker = factories.make_user(now=clock.now(), team=zeta)
        a = db.session.get(User, org.practitioner.id)
        b = db.session.get(User, org.other_practitioner.id)
        c = db.session.get(User, zeta_worker.id)
        for who, month, count in ((a, 1, 4), (a, 2, 6), (a, 3, 10), (b, 2, 5), (c, 3, 25)):
            for n in range(count):
                start = at(month, 2 + n % 20, 8 + n // 20)
                visit = visit_service.check_in(
                    who,
                    address=HIGH_ST if who is a else LOW_LANE,
                    now=start,
                    max_minutes=720,
                    duration_minutes=30,
                ).visit
                visit_service.check_out(who, visit.id, now=start + timedelta(minutes=20))

        def report(key, who, occurred, lag_hours, **kw):
            kw.setdefault("near_miss", False)
            kw.setdefault("harmed", False)
            kw.setdefault("description", f"Report {key}")
            incident = incident_service.report(
                who, occurred_at=occurred, now=occurred + timedelta(hours=lag_hours), **kw
            )
            ids[key] = incident.id

        ids: dict[str, int] = {}
        report("jan_abuse", a, at(1, 10, 10), 2, category=IncidentCategory.VERBAL_ABUSE, address=HIGH_ST)
        report(
            "feb_assault",
            a,
            at(2, 3, 14),
            1,
            category=IncidentCategory.PHYSICAL_ASSAULT,
            harmed=True,
            address="12 high st ls14ap",
        )
        report(
            "mar_near_miss",
            a,
            at(3, 5, 9),
            0,
            category=IncidentCategory.OTHER,
            near_miss=True,
            near_miss_kind=NearMissKind.DID_NOT_ENTER,
            address=HIGH_ST,
        )
        report(
            "mar_threat",
            a,
            at(3, 20, 16),
            26,
            category=IncidentCategory.THREAT,
            description='=HYPERLINK("http://evil.test")',
        )
        report(
            "feb_dog", b, at(2, 14, 11), 4, category=IncidentCategory.ANIMAL, near_miss=True, address=LOW_LANE
        )
        report("feb_abuse", b, at(2, 15, 11), 0.5, category=IncidentCategory.VERBAL_ABUSE, address=LOW_LANE)
        report("december", a, at(12, 20, 9, year=2025), 1, category=IncidentCategory.THREAT)
        alarm = alarm_service.raise_alarm(kind=AlarmKind.PANIC, practitioner=a, now=at(3, 25))
        ids["draft"] = incident_service.draft_from_alarm(
            alarm.id, actor_id=org.manager.id, now=at(3, 25, 10)
        ).id

        other_manager = db.session.get(User, org.other_manager.id)
        lead = db.session.get(User, org.lead.id)
        marker = marker_proposals.propose(
            other_manager,
            db.session.get(Incident, ids["feb_abuse"]),
            reason="Verbal abuse on 15 February.",
            controls=[MarkerControl.WRITTEN_AGREEMENT],
            review_at=NOW + timedelta(days=10),
            now=at(3, 1),
        )
        marker_service.approve(lead, marker, now=at(3, 2))
        db.session.commit()
        result = DataSet(ids=ids, zeta_team_id=zeta.id, low_lane_marker_id=marker.id)
    clock.set(NOW)
    return result


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_reach_leads_see_all_managers_their_team_practitioners_their_own(as_user, org, data):
    ids = data.ids
    everything = [
        ids[k]
        for k in (
            "mar_threat",
            "mar_near_miss",
            "feb_abuse",
            "feb_dog",
            "feb_assault",
            "jan_abuse",
            "december",
        )
    ]
    assert ids_of(as_user(org.lead).get("/api/v1/incidents")) == everything
    assert ids_of(as_user(org.admin).get("/api/v1/incidents")) == everything
    team_a = [ids[k] for k in ("mar_threat", "mar_near_miss", "feb_assault", "jan_abuse", "december")]
    assert ids_of(as_user(org.manager).get("/api/v1/incidents")) == team_a
    assert ids_of(as_user(org.practitioner).get("/api/v1/incidents")) == team_a
    assert ids_of(as_user(org.colleague).get("/api/v1/incidents")) == []
    assert ids_of(as_user(org.other_manager).get("/api/v1/incidents")) == [ids["feb_abuse"], ids["feb_dog"]]
    # A manager asking for another team gets nothing of it.
    assert ids_of(as_user(org.manager).get(f"/api/v1/incidents?team_id={org.other_team.id}")) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=verbal_abuse", ["feb_abuse", "jan_abuse"]),
        ("category=verbal_abuse&category=animal", ["feb_abuse", "feb_dog", "jan_abuse"]),
        ("near_miss=true", ["mar_near_miss", "feb_dog"]),
        ("near_miss=false&harmed=true", ["feb_assault"]),
        ("status=draft", ["draft"]),
        (
            "status=reported&status=draft",
            [
                "draft",
                "mar_threat",
                "mar_near_miss",
                "feb_abuse",
                "feb_dog",
                "feb_assault",
                "jan_abuse",
                "december",
            ],
        ),
        (
            "occurred_from=2026-02-01T00:00:00Z&occurred_to=2026-03-01T00:00:00Z",
            ["feb_abuse", "feb_dog", "feb_assault"],
        ),
        ("riddor=open", ["feb_assault"]),
        ("riddor=not_screened&category=threat", ["mar_threat", "december"]),
        ("sort=occurred_at&per_page=2", ["december", "jan_abuse"]),
        ("sort=occurred_at&per_page=2&page=2", ["feb_assault", "feb_dog"]),
        ("sort=-reported_at&per_page=1", ["mar_threat"]),
        (
            "sort=category&category=verbal_abuse&category=threat",
            ["mar_threat", "december", "jan_abuse", "feb_abuse"],
        ),
    ],
)
def test_filters_sorting_and_paging(as_user, org, data, query, expected):
    response = as_user(org.lead).get(f"/api/v1/incidents?{query}")
    assert ids_of(response) == [data.ids[k] for k in expected]


def test_filter_by_team_and_household(as_user, org, data):
    lead = as_user(org.lead)
    assert ids_of(lead.get(f"/api/v1/incidents?team_id={org.other_team.id}")) == [
        data.ids["feb_abuse"],
        data.ids["feb_dog"],
    ]
    household = lead.get(f"/api/v1/incidents/{data.ids['feb_assault']}").get_json()["household_id"]
    assert ids_of(lead.get(f"/api/v1/incidents?household_id={household}")) == [
        data.ids["mar_near_miss"],
        data.ids["feb_assault"],
        data.ids["jan_abuse"],
    ]


def test_paging_fields(as_user, org, data):
    page = as_user(org.lead).get("/api/v1/incidents?per_page=3&page=3").get_json()
    assert (page["page"], page["per_page"], page["total"], len(page["items"])) == (3, 3, 7, 1)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("category=fight", "category"),
        ("status=open", "status"),
        ("near_miss=perhaps", "near_miss"),
        ("occurred_from=2026-02-01T00:00:00", "occurred_from"),
        ("occurred_from=2026-03-01T00:00:00Z&occurred_to=2026-02-01T00:00:00Z", "occurred_to"),
        ("riddor=late", "riddor"),
        ("sort=description", "sort"),
        ("per_page=1000", "per_page"),
    ],
)
def test_bad_filters_are_422_naming_the_parameter(as_user, org, data, query, field):
    response = as_user(org.lead).get(f"/api/v1/incidents?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


# --- CSV --------------------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export_has_the_header_and_the_filtered_rows(as_user, org, data):
    response = as_user(org.lead).get("/api/v1/incidents/export.csv?category=verbal_abuse&sort=occurred_at")
    rows = read_csv(response)
    assert [int(r["id"]) for r in rows] == [data.ids["jan_abuse"], data.ids["feb_abuse"]]
    header = response.get_data(as_text=True).splitlines()[0].split(",")
    assert header[:6] == ["id", "status", "category", "near_miss", "near_miss_kind", "harmed"]
    assert {"team", "reporter", "risk_band", "riddor_state", "riddor_report_by", "hse_reference"} <= set(
        header
    )
    first = rows[0]
    assert (first["occurred_at"], first["near_miss"], first["address"]) == (
        "2026-01-10T10:00:00+00:00",
        "false",
        HIGH_ST,
    )
    assert first["reporter"] == "Priya Practitioner"


def test_csv_cells_that_would_run_as_formulas_are_quoted(as_user, org, data):
    rows = read_csv(as_user(org.lead).get("/api/v1/incidents/export.csv?category=threat"))
    threat = next(r for r in rows if int(r["id"]) == data.ids["mar_threat"])
    assert threat["description"] == '\'=HYPERLINK("http://evil.test")'


def test_csv_follows_reach_and_is_for_managers_and_leads(as_user, org, data):
    rows = read_csv(as_user(org.other_manager).get("/api/v1/incidents/export.csv"))
    assert sorted(int(r["id"]) for r in rows) == sorted([data.ids["feb_dog"], data.ids["feb_abuse"]])
    assert as_user(org.practitioner).get("/api/v1/incidents/export.csv").status_code == 403
    empty = as_user(org.lead).get("/api/v1/incidents/export.csv?category=hate_incident")
    assert empty.get_data(as_text=True).count("\n") == 1  # the header alone


# --- summary ----------------------------------------------------------------------------------------


def test_summary_figures_for_the_lead(as_user, org, data):
    response = as_user(org.lead).get(f"/api/v1/incidents/summary?{PERIOD}")
    assert response.status_code == 200, response.get_json()
    s = response.get_json()
    assert s["period"] == {"from": "2026-01-01T00:00:00+00:00", "to": "2026-04-01T00:00:00+00:00"}
    assert s["totals"] == {
        "incidents": 6,
        "near_misses": 2,
        "harmed": 1,
        "visits": 50,
        "rate_per_1000_visits": 120.0,
        "at_marked_households": 0,
    }
    assert s["near_miss_to_harm_ratio"] == 2.0
    assert s["reporting_lag_hours"] == {"reports": 6, "median": 1.5, "p90": 15.0}
    assert s["by_month"] == [
        {
            "month": "2026-01",
            "incidents": 1,
            "near_misses": 0,
            "harmed": 0,
            "visits": 4,
            "rate_per_1000_visits": 250.0,
        },
        {
            "month": "2026-02",
            "incidents": 3,
            "near_misses": 1,
            "harmed": 1,
            "visits": 11,
            "rate_per_1000_visits": 272.7,
        },
        {
            "month": "2026-03",
            "incidents": 2,
            "near_misses": 1,
            "harmed": 0,
            "visits": 35,
            "rate_per_1000_visits": 57.1,
        },
    ]
    assert s["by_category"] == [
        {"category": "verbal_abuse", "incidents": 2, "near_misses": 0},
        {"category": "animal", "incidents": 1, "near_misses": 1},
        {"category": "other", "incidents": 1, "near_misses": 1},
        {"category": "physical_assault", "incidents": 1, "near_misses": 0},
        {"category": "threat", "incidents": 1, "near_misses": 0},
    ]
    by_team = {row["team_id"]: row for row in s["by_team"]}
    assert by_team[org.team.id] | {"team": None} == {
        "team_id": org.team.id,
        "team": None,
        "incidents": 4,
        "near_misses": 1,
        "visits": 20,
        "rate_per_1000_visits": 200.0,
    }
    assert (by_team[org.other_team.id]["incidents"], by_team[org.other_team.id]["rate_per_1000_visits"]) == (
        2,
        400.0,
    )
    assert (by_team[data.zeta_team_id]["incidents"], by_team[data.zeta_team_id]["visits"]) == (0, 25)
    assert s["silent_teams"] == [{"team_id": data.zeta_team_id, "team": "Zeta team", "visits": 25}]
    assert [(h["address"], h["incidents"], h["active_markers"]) for h in s["repeat_households"]] == [
        (HIGH_ST, 3, 0),
        (LOW_LANE, 2, 1),
    ]
    assert [(r["reporter_id"], r["incidents"]) for r in s["repeat_reporters"]] == [
        (org.practitioner.id, 4),
        (org.other_practitioner.id, 2),
    ]
    assert s["riddor_open"] == [
        {
            "incident_id": data.ids["feb_assault"],
            "occurred_at": "2026-02-03T14:00:00+00:00",
            "classification": "pending",
            "report_by": "2026-02-18",
            "days_left": -41,
        },
    ]
    assert (s["overdue"]["steps"], s["overdue"]["actions"]) == (7, 0)  # every report waits to be acknowledged
    assert s["overdue"]["items"][0]["incident_id"] == data.ids["december"]
    assert [m["marker_id"] for m in s["markers_due_for_review"]] == [data.low_lane_marker_id]


def test_summary_for_a_manager_is_their_team_only(as_user, org, data):
    s = as_user(org.manager).get(f"/api/v1/incidents/summary?{PERIOD}").get_json()
    assert (s["totals"]["incidents"], s["totals"]["visits"], s["totals"]["rate_per_1000_visits"]) == (
        4,
        20,
        200.0,
    )
    assert [row["team_id"] for row in s["by_team"]] == [org.team.id]
    assert s["silent_teams"] == []
    assert s["markers_due_for_review"] == []
    assert s["overdue"]["steps"] == 5


def test_summary_silent_team_threshold_and_roles(as_user, org, data):
    lead = as_user(org.lead)
    assert (
        lead.get(f"/api/v1/incidents/summary?{PERIOD}&silent_min_visits=26").get_json()["silent_teams"] == []
    )
    assert lead.get("/api/v1/incidents/summary?silent_min_visits=0").status_code == 422
    assert as_user(org.practitioner).get("/api/v1/incidents/summary").status_code == 403


def test_summary_default_period_is_the_last_twelve_months(as_user, org, data):
    s = as_user(org.lead).get("/api/v1/incidents/summary").get_json()
    assert s["period"]["from"] == "2025-04-01T00:00:00+00:00"
    assert len(s["by_month"]) == 12
    assert s["totals"]["incidents"] == 7  # December's report is in


def test_a_confirmed_draft_counts_in_the_summary(app, as_user, org, data):
    lead = as_user(org.lead)
    confirmed = as_user(org.practitioner).post(
        f"/api/v1/incidents/{data.ids['draft']}/confirm",
        json={"category": "threat", "description": "Threatened at the door.", "near_miss": False},
    )
    assert confirmed.status_code == 200
    assert lead.get(f"/api/v1/incidents/summary?{PERIOD}").get_json()["totals"]["incidents"] == 7


def test_markers_due_for_review_for_their_owners(as_user, org, data):
    due = as_user(org.other_manager).get("/api/v1/markers?due_for_review=true").get_json()
    assert [m["id"] for m in due["items"]] == [data.low_lane_marker_id]
    assert as_user(org.manager).get("/api/v1/markers?due_for_review=true").get_json()["total"] == 0
    assert as_user(org.lead).get("/api/v1/markers?due_for_review=false").get_json()["total"] == 0
