"""Each role's landing page.

The paths are the contract (API-CONTRACT.md, "Pages"): managers land on /board, leads on
/register, admins on /admin, practitioners on /app.
"""

from __future__ import annotations

from safetycheck.accounts.enums import Role

ROLE_HOME = {
    Role.MANAGER: "/board",
    Role.HS_LEAD: "/register",
    Role.ADMIN: "/admin",
    Role.PRACTITIONER: "/app",
}


def home_path(role: Role) -> str:
    return ROLE_HOME[role]
