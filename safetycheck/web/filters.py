"""Template filters and globals: local times, human durations, role names, navigation by role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from safetycheck.accounts.enums import Role
from safetycheck.localtime import local_zone
from safetycheck.web.assets import asset_url
from safetycheck.web.auth import current_web_user

ROLE_LABELS = {
    Role.PRACTITIONER: "Practitioner",
    Role.MANAGER: "Manager",
    Role.HS_LEAD: "Health and safety lead",
    Role.ADMIN: "Admin",
}


@dataclass(frozen=True)
class NavItem:
    text: str
    path: str
    roles: frozenset[Role]


# The service navigation: each page for the roles that may open it, in this order. An item is
# shown only once a route serves its path, so adding a page adds its link.
NAVIGATION = [
    NavItem("Board", "/board", frozenset({Role.MANAGER, Role.ADMIN, Role.HS_LEAD})),
    NavItem("Register", "/register", frozenset({Role.HS_LEAD, Role.MANAGER, Role.ADMIN})),
    NavItem("Summary", "/register/summary", frozenset({Role.HS_LEAD, Role.MANAGER, Role.ADMIN})),
    NavItem("Markers", "/markers", frozenset({Role.MANAGER, Role.HS_LEAD, Role.ADMIN})),
    NavItem("Admin", "/admin", frozenset({Role.ADMIN})),
    NavItem("My visit", "/app", frozenset({Role.PRACTITIONER})),
]


def local_time(moment: datetime | None, fmt: str = "%H:%M") -> str:
    """A UTC time in the service's zone (SAFETYCHECK_DISPLAY_TIMEZONE), as texts show it."""
    if moment is None:
        return ""
    return moment.astimezone(local_zone()).strftime(fmt)


def local_datetime(moment: datetime | None) -> str:
    """Day, month, year and local time with the zone: 2 Mar 2026, 09:00 GMT."""
    if moment is None:
        return ""
    local = moment.astimezone(local_zone())
    return f"{local.day} {local.strftime('%b %Y, %H:%M %Z')}"


def month_label(month: str | None) -> str:
    """ "2026-02" -> "February 2026" (the register's rollup months)."""
    if not month:
        return ""
    year, number = month.split("-")
    return f"{datetime(int(year), int(number), 1, tzinfo=UTC).strftime('%B')} {year}"


def human_duration(seconds: int | float | None) -> str:
    """600 -> "10 min", 5400 -> "1 h 30 min", 45 -> "45 s", 0 -> "0 s"."""
    if seconds is None:
        return ""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def role_label(role: Role | str | None) -> str:
    return ROLE_LABELS.get(Role(role), str(role)) if role else ""


def nav_items(user: object) -> list[dict[str, object]]:
    """GOV.UK service navigation items for this user's role, current page marked."""
    role = getattr(user, "role", None)
    if role is None:
        return []
    adapter = current_app.url_map.bind("localhost")
    shown = [i for i in NAVIGATION if role in i.roles and _served(adapter, i.path)]
    # The current item is the longest path the page is under (/register/summary, not /register).
    under = [i.path for i in shown if request.path == i.path or request.path.startswith(i.path + "/")]
    current = max(under, key=len, default=None)
    return [{"text": i.text, "href": i.path, "active": i.path == current} for i in shown]


def _served(adapter: object, path: str) -> bool:
    try:
        adapter.match(path, method="GET")  # type: ignore[attr-defined]
    except MethodNotAllowed:
        return True
    except NotFound:
        return False
    return True


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(local_datetime)
    app.add_template_filter(human_duration)
    app.add_template_filter(month_label)
    app.add_template_filter(role_label)
    app.add_template_global(asset_url)
    app.add_template_global(nav_items)
    app.add_template_global(current_web_user)
