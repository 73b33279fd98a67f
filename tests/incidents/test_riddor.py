from datetime import UTC, date, datetime

import pytest

from safetycheck.incidents.riddor import (
    RiddorAssessment,
    RiddorClass,
    assess,
    incapacity_days_from,
)

MONDAY = date(2025, 3, 3)  # a Monday
NEXT_TUESDAY = date(2025, 3, 11)
NEXT_WEDNESDAY = date(2025, 3, 12)


def physical(days: int | None, today: date = date(2025, 3, 20), **kwargs) -> RiddorAssessment:
    return assess(physical=True, incapacity_days=days, incident_date=MONDAY, today=today, **kwargs)


# --- incapacity_days_from ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_day_back", "days"),
    [
        (MONDAY, 0),  # carried on working the same day
        (date(2025, 3, 4), 0),  # back at work the next day
        (date(2025, 3, 5), 1),  # off Tuesday only
        (date(2025, 3, 7), 3),  # off Tue-Thu: 3 days
        (date(2025, 3, 8), 4),  # off Tue-Fri: 4 days
        (date(2025, 3, 10), 6),  # the weekend counts
        (NEXT_TUESDAY, 7),  # off Tuesday to Monday: exactly 7
        (NEXT_WEDNESDAY, 8),  # off until and including the following Tuesday
    ],
)
def test_incapacity_counts_days_after_the_incident_weekends_included(first_day_back, days):
    assert incapacity_days_from(MONDAY, first_day_back, today=date(2025, 4, 1)) == days


def test_incapacity_still_running_counts_today():
    assert incapacity_days_from(MONDAY, None, today=MONDAY) == 0
    assert incapacity_days_from(MONDAY, None, today=date(2025, 3, 10)) == 7
    assert incapacity_days_from(MONDAY, None, today=NEXT_TUESDAY) == 8


def test_incapacity_across_a_month_and_year_end():
    assert incapacity_days_from(date(2024, 12, 27), date(2025, 1, 5), date(2025, 1, 5)) == 8
    assert incapacity_days_from(date(2024, 2, 26), date(2024, 3, 5), date(2024, 3, 5)) == 7


def test_incapacity_refuses_impossible_dates():
    with pytest.raises(ValueError, match="before the incident"):
        incapacity_days_from(MONDAY, date(2025, 3, 2), today=MONDAY)
    with pytest.raises(ValueError, match="future"):
        incapacity_days_from(MONDAY, NEXT_WEDNESDAY, today=NEXT_TUESDAY)
    with pytest.raises(ValueError, match="today is before"):
        incapacity_days_from(MONDAY, None, today=date(2025, 3, 1))
    with pytest.raises(TypeError, match="must be a date"):
        incapacity_days_from(datetime(2025, 3, 3, 9, tzinfo=UTC), None, today=NEXT_TUESDAY)


# --- assess --------------------------------------------------------------------------------


def test_monday_incident_off_until_following_tuesday_is_over_7_day():
    days = incapacity_days_from(MONDAY, NEXT_WEDNESDAY, today=NEXT_WEDNESDAY)

    result = physical(days, today=NEXT_WEDNESDAY)

    assert result.cls is RiddorClass.OVER_7_DAY
    assert result.reportable
    assert result.report_by == date(2025, 3, 18)  # 15 days after the incident
    assert result.days_left == 6
    assert "8 days" in result.reason


@pytest.mark.parametrize(
    ("days", "cls"),
    [
        (0, RiddorClass.NOT_REPORTABLE),
        (3, RiddorClass.NOT_REPORTABLE),  # exactly 3 is not OVER 3
        (4, RiddorClass.RECORD_ONLY),
        (7, RiddorClass.RECORD_ONLY),  # exactly 7 is not OVER 7
        (8, RiddorClass.OVER_7_DAY),
        (16, RiddorClass.OVER_7_DAY),
    ],
)
def test_boundaries_of_the_final_incapacity(days, cls):
    result = physical(days)

    assert result.cls is cls
    if cls is RiddorClass.OVER_7_DAY:
        assert result.report_by == date(2025, 3, 18)
        assert result.days_left == -2  # today is 20 March: two days late
    else:
        assert not result.reportable
        assert result.report_by is None
        assert result.days_left is None


def test_record_only_says_so():
    assert "record it, do not report" in physical(5).reason


def test_death_is_fatal_with_a_10_day_deadline_whatever_the_incapacity():
    result = physical(0, today=date(2025, 3, 4), death=True, specified_injury=True)

    assert result == RiddorAssessment(
        cls=RiddorClass.FATAL,
        report_by=date(2025, 3, 13),
        days_left=9,
        reason=result.reason,
    )
    assert "without delay" in result.reason


def test_specified_injury_is_reportable_at_once_within_10_days():
    result = physical(None, today=MONDAY, specified_injury=True)

    assert result.cls is RiddorClass.SPECIFIED_INJURY
    assert result.report_by == date(2025, 3, 13)
    assert result.days_left == 10
    assert "without delay" in result.reason


def test_unknown_incapacity_is_pending_with_the_over_7_deadline():
    result = physical(None, today=date(2025, 3, 5))

    assert result.cls is RiddorClass.PENDING
    assert not result.reportable
    assert result.report_by == date(2025, 3, 18)
    assert result.days_left == 13
    assert "2025-03-11" in result.reason  # the day that decides it


@pytest.mark.parametrize(
    ("today", "cls"),
    [
        (MONDAY, RiddorClass.PENDING),
        (date(2025, 3, 7), RiddorClass.PENDING),  # 4 days so far: recordable already
        (date(2025, 3, 10), RiddorClass.PENDING),  # 7 days so far: not over 7 yet
        (NEXT_TUESDAY, RiddorClass.OVER_7_DAY),  # still off on the 8th day
    ],
)
def test_still_incapacitated_becomes_over_7_on_the_eighth_day(today, cls):
    days = incapacity_days_from(MONDAY, None, today)

    result = physical(days, today=today, still_incapacitated=True)

    assert result.cls is cls
    assert result.report_by == date(2025, 3, 18)
    assert result.days_left == (date(2025, 3, 18) - today).days


def test_still_incapacitated_over_3_days_is_flagged_for_the_record():
    assert "record it" in physical(4, today=date(2025, 3, 7), still_incapacitated=True).reason
    assert "record" not in physical(2, today=date(2025, 3, 5), still_incapacitated=True).reason


@pytest.mark.parametrize("extra", [{}, {"death": True}, {"specified_injury": True}])
def test_non_physical_incidents_are_never_reportable(extra):
    result = assess(
        physical=False, incapacity_days=10, incident_date=MONDAY, today=date(2025, 3, 20), **extra
    )

    assert result == RiddorAssessment(RiddorClass.NOT_REPORTABLE, None, None, result.reason)
    assert "not reportable" in result.reason


def test_reported_on_the_deadline_day_has_zero_days_left():
    assert physical(8, today=date(2025, 3, 18)).days_left == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"incapacity_days": -1}, ">= 0"),
        ({"incapacity_days": True}, "whole number"),
        ({"incapacity_days": 2.5}, "whole number"),
        ({"incapacity_days": 30}, "exceeds"),
        ({"incapacity_days": None, "still_incapacitated": True}, "needs incapacity_days"),
        ({"incapacity_days": 0, "today": date(2025, 3, 2)}, "today is before"),
    ],
)
def test_assess_refuses_impossible_input(kwargs, message):
    arguments = {
        "physical": True,
        "incident_date": MONDAY,
        "today": date(2025, 3, 20),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        assess(**arguments)


def test_classes_are_stored_strings():
    assert RiddorClass.OVER_7_DAY == "over_7_day"
    assert {c.value for c in RiddorClass} == {
        "not_reportable",
        "record_only",
        "over_7_day",
        "specified_injury",
        "fatal",
        "pending",
    }
