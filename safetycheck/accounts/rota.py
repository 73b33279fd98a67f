"""Who is on call at a given moment: the one question escalation asks of the on-call schedule.

Today on call is a flag an admin sets on a user (`User.on_call`), the same for every team and
every hour. The on-call rota (issue 13) replaces this function with one that resolves rotations,
layers and overrides at `at`; callers already ask with the moment and the team, so they need no
change when it lands.
"""

from __future__ import annotations

from datetime import datetime

from safetycheck.accounts import service as account_service
from safetycheck.accounts.models import User


def on_call_at(at: datetime, *, team_id: int | None) -> list[User]:
    """Active users on call at `at` for `team_id` (for now: everyone with the on-call flag)."""
    return account_service.on_call_users()
