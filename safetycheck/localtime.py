"""The service's one time zone (SAFETYCHECK_DISPLAY_TIMEZONE, Europe/London by default).

Texts, pages and calendar counting (RIDDOR days, working days) all read the zone here, so a
page and the text about the same alarm cannot disagree. Outside an app (plain unit tests) the
default applies.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)

DEFAULT_ZONE = "Europe/London"


def zone(app: Flask | None = None) -> tzinfo:
    """The service's time zone: of `app`, else of the current app, else the default."""
    if app is not None:
        name = app.config.get("DISPLAY_TIMEZONE")
    else:
        name = current_app.config.get("DISPLAY_TIMEZONE") if has_app_context() else None
    return zone_named(name or DEFAULT_ZONE)


@lru_cache
def zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # settings check the name; a slim image lacks tzdata
        log.warning("time zone %s not found (install tzdata); using UTC for local times", name)
        return UTC
