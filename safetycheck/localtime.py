"""The service's one time zone, and dates as people count them: local days, working days, months.

Texts, pages and calendar counting all read the zone here, so a page and the text about the
same alarm cannot disagree. Timestamps are stored in UTC, but "the day of the incident" (RIDDOR
counts from it) and "two working days" are calendar notions of the service's time zone
(SAFETYCHECK_DISPLAY_TIMEZONE, Europe/London by default): an assault at 00:30 BST on a Tuesday
happened on the Tuesday, not on the Monday that UTC says. Working days skip weekends and the bank
holidays of the UK nation in SAFETYCHECK_BANK_HOLIDAYS (England and Wales by default; Scotland
and Northern Ireland have their own). Outside an app (plain unit tests) the defaults apply.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)

DEFAULT_ZONE = "Europe/London"
DEFAULT_BANK_HOLIDAYS = "ENG"  # England and Wales


def zone(app: Flask | None = None) -> tzinfo:
    """The service's time zone: of `app`, else of the current app, else the default."""
    if app is not None:
        name = app.config.get("DISPLAY_TIMEZONE")
    else:
        name = current_app.config.get("DISPLAY_TIMEZONE") if has_app_context() else None
    return _zone(name or DEFAULT_ZONE)


def local_zone() -> tzinfo:
    """The service's time zone (of the current app)."""
    return zone()


def bank_holidays() -> holidays.HolidayBase:
    """The UK bank holidays of the configured nation (subdivision ENG, SCT, NIR or WLS)."""
    name = current_app.config.get("BANK_HOLIDAYS") if has_app_context() else None
    return uk_bank_holidays(name or DEFAULT_BANK_HOLIDAYS)


@lru_cache
def uk_bank_holidays(subdivision: str) -> holidays.HolidayBase:
    """Bank holidays of one UK nation; years are added as dates are looked up."""
    return holidays.country_holidays("GB", subdiv=subdivision)


@lru_cache
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # settings check the name; a slim image lacks tzdata
        log.warning("time zone %s not found (install tzdata); using UTC for local dates", name)
        return UTC


def local_date(moment: datetime) -> date:
    """The local calendar day of an aware timestamp."""
    return moment.astimezone(local_zone()).date()


def start_of_local_day(day: date) -> datetime:
    """Local midnight at the start of `day`, as an aware UTC timestamp."""
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(UTC)


def is_working_day(day: date, off: holidays.HolidayBase | None = None) -> bool:
    """Monday to Friday, and not a bank holiday."""
    return day.weekday() < 5 and day not in (bank_holidays() if off is None else off)


def add_working_days(start: datetime, days: int, *, off: holidays.HolidayBase | None = None) -> datetime:
    """Move forward by whole working days, keeping the local time of day.

    A start on a weekend or a bank holiday counts from the next working day. `off` replaces the
    configured bank holidays (for tests of another nation's).
    """
    off = bank_holidays() if off is None else off
    moment = start.astimezone(local_zone())
    while not is_working_day(moment.date(), off):
        moment += timedelta(days=1)
    remaining = days
    while remaining > 0:
        moment += timedelta(days=1)
        if is_working_day(moment.date(), off):
            remaining -= 1
    return moment.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    local = moment.astimezone(local_zone())
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return local.replace(year=year, month=month, day=min(local.day, last_day)).astimezone(UTC)


def short_time(moment: datetime) -> str:
    """A compact local time for a text: "14:05 Mon 2 Mar"."""
    local = moment.astimezone(local_zone())
    return f"{local:%H:%M} {local:%a} {local.day} {local:%b}"
