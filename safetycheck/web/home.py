"""Each role's landing page, and a stand-in for those not built yet.

The paths are the contract (API-CONTRACT.md, "Pages"): managers land on /board, leads on
/register, admins on /admin, practitioners on /app. Until a blueprint serves one of them, a
signed-in "not built yet" page answers there; it disappears by itself once a real route exists.
"""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import MethodNotAllowed, NotFound

from safetycheck.accounts.enums import Role

ROLE_HOME = {
    Role.MANAGER: "/board",
    Role.HS_LEAD: "/register",
    Role.ADMIN: "/admin",
    Role.PRACTITIONER: "/app",
}


def home_path(role: Role) -> str:
    return ROLE_HOME[role]


def add_placeholders(app: Flask) -> None:
    """Serve a placeholder at every landing path that no page blueprint has claimed."""
    from safetycheck.web.auth import web_login_required

    adapter = app.url_map.bind("localhost")
    for role, path in ROLE_HOME.items():
        try:
            adapter.match(path, method="GET")
            continue
        except MethodNotAllowed:
            continue
        except NotFound:
            pass

        @web_login_required()
        def placeholder(path: str = path) -> str:
            return render_template("placeholder.html", title="Not built yet", path=path)

        # An endpoint named "web.…" belongs to the `web` blueprint for Flask: its hooks (the
        # signed-in user, CSRF) and its error pages apply here too.
        app.add_url_rule(path, f"web.placeholder_{role.value}", placeholder)
