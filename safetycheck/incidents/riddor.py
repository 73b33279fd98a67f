"""RIDDOR screening for work-related violence: is it reportable to HSE, and by when?

RIDDOR 2013 (UK law) makes physical violence to a worker reportable when it causes death, a
specified injury, or over 7 consecutive days of incapacity; over-3-day incapacity must be
recorded but not reported; threats and verbal abuse are never reportable. This module is the
day counter and the deadline, so that the register can show "days left" and nobody has to count
on their fingers. Pure: ``today`` is passed in.

Day counting (HSE): the day of the incident is not counted; weekends and rest days are.
Incapacity means unable to do the full range of normal work, not only absence from work.

Limits, kept deliberately out of scope: the caller decides what counts as physical violence and
as a specified injury (the HSE list of fractures, amputations, loss of sight, ...); a death that
follows a reported injury within a year must be reported again; non-workers (for example a
student on placement taken to hospital) have other rules; and this is a screen, not legal advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

REPORT_WITHIN_DAYS_SERIOUS = 10  # death or specified injury, after notifying without delay
REPORT_WITHIN_DAYS_OVER_7 = 15
OVER_7_DAYS = 7  # reportable when incapacity is MORE than this many days
OVER_3_DAYS = 3  # recordable when incapacity is MORE than this many days


class RiddorClass(StrEnum):
    NOT_REPORTABLE = "not_reportable"
    RECORD_ONLY = "record_only"  # over 3 days: keep a record, do not report
    OVER_7_DAY = "over_7_day"
    SPECIFIED_INJURY = "specified_injury"
    FATAL = "fatal"
    # Physical violence whose incapacity is not (yet) known to be over 7 days: it may still
    # become reportable, so the deadline is shown.
    PENDING = "pending"


REPORTABLE = frozenset({RiddorClass.OVER_7_DAY, RiddorClass.SPECIFIED_INJURY, RiddorClass.FATAL})


@dataclass(frozen=True)
class RiddorAssessment:
    cls: RiddorClass
    report_by: date | None  # last day to report; for pending, the deadline if it becomes over-7
    days_left: int | None  # (report_by - today).days; negative when late
    reason: str

    @property
    def reportable(self) -> bool:
        return self.cls in REPORTABLE


def incapacity_days_from(incident_date: date, first_day_back: date | None, today: date) -> int:
    """Count the consecutive days of incapacity after the incident day, weekends included.

    ``first_day_back`` is the first day the worker could do their normal work again; None means
    they still cannot, in which case today counts as a day of incapacity. Incident on a Monday,
    back on the Wednesday of the following week: Tuesday to Tuesday, 8 days.
    """
    _check_dates(incident_date, today)
    if first_day_back is None:
        return (today - incident_date).days
    if first_day_back < incident_date:
        raise ValueError("first_day_back is before the incident")
    if first_day_back > today:
        raise ValueError("first_day_back is in the future: the incapacity is not known yet")
    return max(0, (first_day_back - incident_date).days - 1)


def assess(
    *,
    physical: bool,
    incapacity_days: int | None,
    incident_date: date,
    today: date,
    death: bool = False,
    specified_injury: bool = False,
    still_incapacitated: bool = False,
) -> RiddorAssessment:
    """Classify an incident under RIDDOR and give its reporting deadline.

    ``incapacity_days`` is the count from :func:`incapacity_days_from`; None means not known
    yet. With ``still_incapacitated`` the count is the days so far rather than the final figure.
    """
    _check_dates(incident_date, today)
    if incapacity_days is not None:
        if isinstance(incapacity_days, bool) or not isinstance(incapacity_days, int):
            raise ValueError("incapacity_days must be a whole number of days or None")
        if incapacity_days < 0:
            raise ValueError("incapacity_days must be >= 0")
        if incapacity_days > (today - incident_date).days:
            raise ValueError("incapacity_days exceeds the days since the incident")
    elif still_incapacitated:
        raise ValueError("still_incapacitated needs incapacity_days so far")

    if not physical:
        return _assessment(
            RiddorClass.NOT_REPORTABLE,
            None,
            today,
            "no physical violence: threats and verbal abuse are not reportable under RIDDOR",
        )
    serious_by = incident_date + timedelta(days=REPORT_WITHIN_DAYS_SERIOUS)
    if death:
        return _assessment(
            RiddorClass.FATAL,
            serious_by,
            today,
            "death of a worker: notify HSE without delay and report within 10 days",
        )
    if specified_injury:
        return _assessment(
            RiddorClass.SPECIFIED_INJURY,
            serious_by,
            today,
            "specified injury: notify HSE without delay and report within 10 days",
        )

    over_7_by = incident_date + timedelta(days=REPORT_WITHIN_DAYS_OVER_7)
    # The first day on which still being incapacitated makes it over 7 days.
    decisive_day = incident_date + timedelta(days=OVER_7_DAYS + 1)
    if incapacity_days is None:
        return _assessment(
            RiddorClass.PENDING,
            over_7_by,
            today,
            "incapacity not known yet: reportable within 15 days of the incident if the worker "
            f"could not do their normal work up to and including {decisive_day.isoformat()}",
        )
    if incapacity_days > OVER_7_DAYS:
        return _assessment(
            RiddorClass.OVER_7_DAY,
            over_7_by,
            today,
            f"incapacitated for {incapacity_days} days (over 7): report within 15 days of the incident",
        )
    if still_incapacitated:
        recorded = " (already over 3 days: record it)" if incapacity_days > OVER_3_DAYS else ""
        return _assessment(
            RiddorClass.PENDING,
            over_7_by,
            today,
            f"incapacitated for {incapacity_days} days so far{recorded}: reportable if still "
            f"unable to do normal work on {decisive_day.isoformat()}",
        )
    if incapacity_days > OVER_3_DAYS:
        return _assessment(
            RiddorClass.RECORD_ONLY,
            None,
            today,
            f"incapacitated for {incapacity_days} days (over 3, not over 7): record it, do not report",
        )
    return _assessment(
        RiddorClass.NOT_REPORTABLE,
        None,
        today,
        f"incapacitated for {incapacity_days} days (not over 3): no RIDDOR record needed",
    )


def _assessment(cls: RiddorClass, report_by: date | None, today: date, reason: str) -> RiddorAssessment:
    days_left = None if report_by is None else (report_by - today).days
    return RiddorAssessment(cls=cls, report_by=report_by, days_left=days_left, reason=reason)


def _check_dates(incident_date: date, today: date) -> None:
    # A datetime is a date subclass; a timestamp here would silently count in the wrong zone.
    for name, value in (("incident_date", incident_date), ("today", today)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    if today < incident_date:
        raise ValueError("today is before the incident")
