"""Dates as people in the UK count them: local calendar days, working days, months, short texts.

Timestamps are stored in UTC, but "the day of the incident" (RIDDOR counts from it) and "two
working days" are UK calendar notions: an assault at 00:30 BST on a Tuesday happened on the
Tuesday, not on the Monday that UTC says.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)


def _local_zone() -> tzinfo:
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # a slim image without tzdata: off by an hour in summer
        log.warning("time zone Europe/London not found (install tzdata); using UTC for local dates")
        return UTC


LOCAL_TZ = _local_zone()


def local_date(moment: datetime) -> date:
    """The UK calendar day of an aware timestamp."""
    return moment.astimezone(LOCAL_TZ).date()


def start_of_local_day(day: date) -> datetime:
    """Midnight UK time at the start of `day`, as an aware UTC timestamp."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(UTC)


def add_working_days(start: datetime, days: int) -> datetime:
    """Move forward by whole working days (Monday to Friday), keeping the time of day.

    Bank holidays are not known here; a target that lands on one is a day early, which errs
    on the side of the worker.
    """
    moment = start.astimezone(LOCAL_TZ)
    while moment.weekday() >= 5:  # started at a weekend: count from Monday
        moment += timedelta(days=1)
    remaining = days
    while remaining > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            remaining -= 1
    return moment.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    local = moment.astimezone(LOCAL_TZ)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return local.replace(year=year, month=month, day=min(local.day, last_day)).astimezone(UTC)


def short_time(moment: datetime) -> str:
    """A compact UK time for a text: "14:05 Mon 2 Mar"."""
    local = moment.astimezone(LOCAL_TZ)
    return f"{local:%H:%M} {local:%a} {local.day} {local:%b}"
