"""Password sign-in for every channel (the API's `POST /auth/tokens` and the web's `/login`).

One place decides whether a password is right and how repeated failures are slowed down, so the
two doors cannot drift apart. Failures are counted per email address in the database (so every
instance sees them); after `lock_after` failures in a row the address is locked for
`lock_seconds`, doubling with each further failure up to `lock_max_seconds`. While locked, no
password is checked, the right one included. An unknown address is counted and locked exactly
like a real one, with the same answer and the same work, so nobody can learn who has an account.
Services flush, never commit: the caller must commit even when the attempt failed, or the failure
is not counted.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.dialects import postgresql, sqlite

from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts.models import SigninThrottle, User
from safetycheck.accounts.service import find_user_by_email, get_user
from safetycheck.extensions import db

WRONG_CREDENTIALS = "Wrong email or password."

# Process-wide, like every Prometheus counter; `accounts.setup` adds it to each app's registry.
SIGNIN_FAILURES = Counter(
    "safetycheck_signin_failures",
    "Sign-ins refused: wrong email or password, or refused unchecked while the address is locked",
    ["channel", "reason"],
    registry=None,
)


@dataclass(frozen=True)
class SigninRules:
    lock_after: int = 5
    lock_seconds: int = 60
    lock_max_seconds: int = 900
    # A failure this old no longer counts towards a lock.
    forget_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class SigninAttempt:
    user: User | None  # set only when the sign-in succeeded
    locked_until: datetime | None  # set when the address is (now) locked

    def retry_after_seconds(self, now: datetime) -> int:
        if self.locked_until is None:
            return 0
        return max(1, math.ceil((self.locked_until - now).total_seconds()))


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def attempt(*, email: str, password: str, now: datetime, rules: SigninRules, channel: str) -> SigninAttempt:
    """Check a password under the lock rules; count a failure (the caller commits either way)."""
    digest = email_digest(email)
    throttle = db.session.scalar(sa.select(SigninThrottle).where(SigninThrottle.email_digest == digest))
    if throttle is not None and throttle.locked_until is not None and now < throttle.locked_until:
        SIGNIN_FAILURES.labels(channel, "locked").inc()
        return SigninAttempt(user=None, locked_until=throttle.locked_until)
    user = find_user_by_email(email)
    ok = account_secrets.verify_secret(user.password_hash if user else None, password)
    if user is not None and ok and user.active:
        if throttle is not None:
            db.session.delete(throttle)
            db.session.flush()
        return SigninAttempt(user=user, locked_until=None)
    SIGNIN_FAILURES.labels(channel, "wrong_credentials").inc()
    locked_until = _record_failure(digest, now=now, rules=rules)
    if throttle is not None:
        db.session.expire(throttle)  # the row was changed in SQL, behind the ORM's back
    return SigninAttempt(user=None, locked_until=locked_until)


def _record_failure(digest: str, *, now: datetime, rules: SigninRules) -> datetime | None:
    """Count one failure atomically (two instances may fail the same address at once)."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    row = SigninThrottle
    stale = row.last_failed_at < now - rules.forget_after
    statement = (
        insert(row)
        .values(email_digest=digest, failures=1, last_failed_at=now)
        .on_conflict_do_update(
            index_elements=[row.email_digest],
            set_={
                # In ON CONFLICT … DO UPDATE the columns are the existing row's.
                "failures": sa.case((stale, 1), else_=row.failures + 1),
                "last_failed_at": now,
                "locked_until": sa.case((stale, None), else_=row.locked_until),
            },
        )
        .returning(row.id, row.failures)
    )
    row_id, failures = db.session.execute(statement).one()
    locked_until = None
    if failures >= rules.lock_after:
        doublings = min(failures - rules.lock_after, 20)  # 2**20 minutes is beyond any cap
        seconds = min(rules.lock_seconds * 2**doublings, rules.lock_max_seconds)
        locked_until = now + timedelta(seconds=seconds)
        db.session.execute(
            sa.update(SigninThrottle).where(SigninThrottle.id == row_id).values(locked_until=locked_until)
        )
    db.session.flush()
    return locked_until


def lock_for(email: str, *, now: datetime) -> SigninThrottle | None:
    """The throttle of an address while it is locked, else None."""
    throttle = db.session.scalar(
        sa.select(SigninThrottle).where(SigninThrottle.email_digest == email_digest(email))
    )
    if throttle is None or throttle.locked_until is None or throttle.locked_until <= now:
        return None
    return throttle


def locked_user_ids(users: list[User], *, now: datetime) -> set[int]:
    """Which of these people cannot sign in right now (for the admin's list)."""
    by_digest = {email_digest(u.email): u.id for u in users}
    if not by_digest:
        return set()
    digests = db.session.scalars(
        sa.select(SigninThrottle.email_digest).where(
            SigninThrottle.email_digest.in_(by_digest), SigninThrottle.locked_until > now
        )
    )
    return {by_digest[d] for d in digests}


def unlock(user_id: int) -> bool:
    """Let a person sign in again at once and forget their failures; True if they were counted."""
    user = get_user(user_id)
    result = db.session.execute(
        sa.delete(SigninThrottle).where(SigninThrottle.email_digest == email_digest(user.email))
    )
    db.session.flush()
    return bool(result.rowcount)  # type: ignore[attr-defined]
