"""Periodic clean-up of sign-in records, run by the sweep: neither table may grow for ever (an
attacker trying random addresses adds a row per address)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck.accounts.models import SigninThrottle, WebSession
from safetycheck.accounts.signin import SigninRules
from safetycheck.engine.parts import sweep_part
from safetycheck.extensions import db

# Kept a while after they end, so an admin can still tell when someone last used the pages.
ENDED_SESSION_RETENTION = timedelta(days=30)


@sweep_part("accounts.purge_signin_records")
def purge_signin_records(session: Any, now: datetime) -> int:
    """Forget failure counts no lock depends on any more, and long-ended browser sessions."""
    forgotten = db.session.execute(
        sa.delete(SigninThrottle).where(
            SigninThrottle.last_failed_at < now - SigninRules.forget_after,
            sa.or_(SigninThrottle.locked_until.is_(None), SigninThrottle.locked_until < now),
        )
    )
    cutoff = now - ENDED_SESSION_RETENTION
    ended = db.session.execute(
        sa.delete(WebSession).where(
            sa.or_(WebSession.expires_at < cutoff, WebSession.ended_at < cutoff),
        )
    )
    db.session.flush()
    return int(forgotten.rowcount or 0) + int(ended.rowcount or 0)  # type: ignore[attr-defined]
