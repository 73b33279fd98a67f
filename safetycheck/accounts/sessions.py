"""Browser sessions held on the server, so that ending one (or all of a person's) takes effect at once.

The signed Flask cookie only carries a random secret; the row says whether it still counts.
A session ends when its owner signs out, after `idle` without a request, at its absolute
`expires_at`, when an admin revokes the person's tokens (a lost phone) or deactivates them.
Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts.models import User, WebSession
from safetycheck.extensions import db

# Writing on every request would serialise all page loads on SQLite; a minute is precise enough
# for an idle timeout counted in tens of minutes.
LAST_SEEN_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta
    maximum: timedelta


@dataclass(frozen=True)
class StartedSession:
    secret: str  # goes into the cookie, never stored
    record: WebSession


def start_session(user: User, *, now: datetime, rules: SessionRules, user_agent: str = "") -> StartedSession:
    """Open a browser session for a user who has just proved who they are."""
    secret, digest = account_secrets.new_token()
    record = WebSession(
        user_id=user.id,
        secret_hash=digest,
        created_at=now,
        last_seen_at=now,
        expires_at=now + rules.maximum,
        user_agent=user_agent[:200] or None,
    )
    db.session.add(record)
    db.session.flush()
    return StartedSession(secret=secret, record=record)


def resolve_session(
    secret: str, *, now: datetime, rules: SessionRules, touch: bool = True
) -> WebSession | None:
    """The live session for a cookie's secret, or None when it ended, idled out, expired or its user
    was deactivated. Marks it seen (at most once a minute) unless `touch` is False: a page's own
    polling is not a person at the keyboard, and must not keep an unattended session alive."""
    record = db.session.scalar(
        sa.select(WebSession).where(WebSession.secret_hash == account_secrets.token_digest(secret))
    )
    if record is None or record.ended_at is not None or not record.user.active:
        return None
    if now >= record.expires_at or now - record.last_seen_at >= rules.idle:
        record.ended_at = now
        db.session.flush()
        return None
    if touch and now - record.last_seen_at >= LAST_SEEN_PRECISION:
        record.last_seen_at = now
        db.session.flush()
    return record


def end_session(session_id: int, *, now: datetime) -> None:
    record = db.session.get(WebSession, session_id)
    if record is not None and record.ended_at is None:
        record.ended_at = now
        db.session.flush()


def end_all_sessions(user_id: int, *, now: datetime) -> int:
    """End every browser session of a user; returns how many were live."""
    result = db.session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    db.session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def live_session_count(user_id: int, *, now: datetime) -> int:
    """Sessions not yet ended or past their maximum (idle ones count until next used)."""
    return (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                WebSession.user_id == user_id, WebSession.ended_at.is_(None), WebSession.expires_at > now
            )
        )
        or 0
    )
