"""Small pure pieces: UK calendar arithmetic, text wording, CSV cells, workflow targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from safetycheck import localtime as calendar
from safetycheck import wording
from safetycheck.incidents import workflow
from safetycheck.incidents.enums import IncidentCategory, IncidentStatus, NearMissKind
from safetycheck.reporting import register

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (MONDAY, 2, datetime(2026, 3, 4, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 5, 9, 0, tzinfo=UTC), 2, datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),  # Thu -> Mon
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), 1, datetime(2026, 3, 10, 12, 0, tzinfo=UTC)),  # Sat -> Tue
        (MONDAY, 0, MONDAY),
        (MONDAY, 5, datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),
    ],
)
def test_add_working_days_skips_weekends(start, days, expected):
    assert calendar.add_working_days(start, days) == expected


def test_working_days_keep_the_local_time_across_the_clock_change():
    friday = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # 09:00 GMT
    assert calendar.add_working_days(friday, 1) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 BST


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, 12, tzinfo=UTC), 1, datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2026, 3, 2, 9, tzinfo=UTC), 12, datetime(2027, 3, 2, 9, tzinfo=UTC)),
        (datetime(2026, 11, 15, 9, tzinfo=UTC), 3, datetime(2027, 2, 15, 9, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(start, months, expected):
    assert calendar.add_months(start, months) == expected


def test_the_incident_day_is_the_uk_day():
    just_after_midnight_bst = datetime(2026, 6, 9, 23, 30, tzinfo=UTC)  # 00:30 on 10 June in London
    assert calendar.local_date(just_after_midnight_bst) == date(2026, 6, 10)
    assert calendar.start_of_local_day(date(2026, 6, 10)) == datetime(2026, 6, 9, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+44 7700", "'+44 7700"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("plain = fine", "plain = fine"),
        ("", ""),
        (None, ""),
    ],
)
def test_csv_text_cells_are_safe_in_spreadsheets(value, cell):
    assert register.safe_text(value) == cell


def incident(**kw):
    base = {"category": IncidentCategory.THREAT, "status": IncidentStatus.REPORTED}
    return SimpleNamespace(**{**base, **kw})


def test_targets_per_step():
    assert workflow.target_for(
        incident(category=IncidentCategory.PHYSICAL_ASSAULT), IncidentStatus.REPORTED, MONDAY
    ) == MONDAY + timedelta(minutes=15)
    assert workflow.target_for(incident(), IncidentStatus.REPORTED, MONDAY) == MONDAY + timedelta(hours=24)
    assert workflow.target_for(incident(), IncidentStatus.ACKNOWLEDGED, MONDAY) == MONDAY + timedelta(days=2)
    assert workflow.target_for(incident(), IncidentStatus.ACTIONS_OPEN, MONDAY) is None
    assert workflow.target_for(incident(), IncidentStatus.CLOSED, MONDAY) is None
    assert workflow.target_for(incident(), IncidentStatus.DRAFT, MONDAY) == MONDAY + timedelta(days=3)


def test_every_plain_step_is_documented_as_allowed():
    assert workflow.allowed_from(IncidentStatus.UNDER_INVESTIGATION) == ["actions_open", "hs_review"]
    assert workflow.allowed_from(IncidentStatus.CLOSED) == []


def test_texts_name_who_what_when_where_and_stay_short(app):
    from safetycheck.incidents import notify

    long_address = (
        "Flat 12, Some Very Long Building Name, 123 Extraordinarily Long Street Name, Leeds LS1 4AP"
    )
    with app.app_context():
        for category in IncidentCategory:
            fake = SimpleNamespace(
                id=123456,
                near_miss=False,
                near_miss_kind=None,
                category=category,
                occurred_at=MONDAY,
                address=long_address,
                reporter=SimpleNamespace(name="Priya Practitioner-Longname"),
            )
            body = notify.reported_text(fake, serious=True)
            assert len(body) <= 300, body
            assert category.plain in body
            assert "09:00 GMT Mon 2 Mar" in body
            assert "Flat 12, Some Very Long Building" in body
            assert "acknowledge incident 123456" in body
        assert notify.when(datetime(2026, 6, 1, 9, 0, tzinfo=UTC)) == "10:00 BST Mon 1 Jun"
    near = SimpleNamespace(
        near_miss=True, near_miss_kind=NearMissKind.LEFT_EARLY, category=IncidentCategory.OTHER
    )
    assert notify._what(near) == "a near miss (left early)"
    assert wording.short_place(None) == "address not given"


# --- bank holidays and the service's time zone ----------------------------------------------------

CHRISTMAS_EVE_EVE = datetime(2026, 12, 23, 9, 0, tzinfo=UTC)  # a Wednesday
HOGMANAY = datetime(2025, 12, 31, 9, 0, tzinfo=UTC)  # a Wednesday; 2 January 2026 is a Friday


@pytest.mark.parametrize(
    ("start", "nation", "expected"),
    [
        # Thu 24 counts; Fri 25 (Christmas) and Mon 28 (Boxing Day observed) do not.
        (CHRISTMAS_EVE_EVE, "ENG", datetime(2026, 12, 29, 9, 0, tzinfo=UTC)),
        (CHRISTMAS_EVE_EVE, "SCT", datetime(2026, 12, 29, 9, 0, tzinfo=UTC)),
        # New Year's Day everywhere; 2 January only in Scotland.
        (HOGMANAY, "ENG", datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        (HOGMANAY, "NIR", datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        (HOGMANAY, "SCT", datetime(2026, 1, 6, 9, 0, tzinfo=UTC)),
        # Started on Good Friday: counted from Tuesday 7 April, after Easter Monday, as from a weekend.
        (datetime(2026, 4, 3, 10, 0, tzinfo=UTC), "ENG", datetime(2026, 4, 9, 10, 0, tzinfo=UTC)),
    ],
)
def test_working_days_skip_the_nations_bank_holidays(start, nation, expected):
    assert calendar.add_working_days(start, 2, off=calendar.uk_bank_holidays(nation)) == expected


def test_working_days_outside_an_app_skip_english_bank_holidays():
    assert calendar.add_working_days(CHRISTMAS_EVE_EVE, 2) == datetime(2026, 12, 29, 9, 0, tzinfo=UTC)
