"""The one sign-in check: failures counted per address in the database, locks that double,
unknown addresses treated exactly like real ones, and an admin's unlock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher

from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts import signin
from safetycheck.accounts.models import SigninThrottle
from safetycheck.extensions import db
from tests.factories import PASSWORD

RULES = signin.SigninRules(lock_after=3, lock_seconds=60, lock_max_seconds=200)


def _try(email: str, password: str, clock) -> signin.SigninAttempt:
    result = signin.attempt(email=email, password=password, now=clock.now(), rules=RULES, channel="test")
    db.session.flush()
    return result


def test_the_right_password_signs_in_and_forgets_earlier_failures(ctx, clock, org) -> None:
    _try(org.admin.email, "wrong", clock)
    assert _try(org.admin.email.upper() + " ", PASSWORD, clock).user.id == org.admin.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SigninThrottle)) == 0


def test_an_unknown_address_is_counted_and_locked_like_a_real_one(ctx, clock, org) -> None:
    for _ in range(3):
        real = _try(org.admin.email, "wrong", clock)
        unknown = _try("nobody@example.test", "wrong", clock)
    assert real.user is None
    assert unknown.user is None
    assert real.locked_until == unknown.locked_until == clock.now() + timedelta(seconds=60)
    assert sorted(db.session.scalars(sa.select(SigninThrottle.failures))) == [3, 3]
    # Only digests are stored: nothing anyone typed.
    assert "nobody" not in " ".join(db.session.scalars(sa.select(SigninThrottle.email_digest)))


def test_a_lock_refuses_even_the_right_password_then_doubles_up_to_the_cap(ctx, clock, org) -> None:
    for _ in range(3):
        _try(org.lead.email, "wrong", clock)
    locked = _try(org.lead.email, PASSWORD, clock)
    assert locked.user is None
    assert locked.retry_after_seconds(clock.now()) == 60
    waits = []
    for _ in range(3):
        clock.advance(seconds=201)
        waits.append(_try(org.lead.email, "wrong", clock).retry_after_seconds(clock.now()))
    assert waits == [120, 200, 200]
    clock.advance(seconds=201)
    assert _try(org.lead.email, PASSWORD, clock).user is not None


def test_old_failures_are_forgotten(ctx, clock, org) -> None:
    for _ in range(2):
        _try(org.manager.email, "wrong", clock)
    clock.advance(hours=25)
    assert _try(org.manager.email, "wrong", clock).locked_until is None
    assert db.session.scalar(sa.select(SigninThrottle.failures)) == 1


def test_an_inactive_person_is_refused_like_a_wrong_password(ctx, clock, org) -> None:
    db.session.get(type(org.colleague), org.colleague.id).active = False
    result = _try(org.colleague.email, PASSWORD, clock)
    assert result.user is None
    assert result.locked_until is None


def test_unlock_lets_a_locked_person_in_at_once(ctx, clock, org) -> None:
    for _ in range(3):
        _try(org.practitioner.email, "wrong", clock)
    assert signin.lock_for(org.practitioner.email, now=clock.now()) is not None
    assert signin.locked_user_ids([org.practitioner, org.admin], now=clock.now()) == {org.practitioner.id}
    assert signin.unlock(org.practitioner.id) is True
    assert _try(org.practitioner.email, PASSWORD, clock).user is not None
    assert signin.unlock(org.practitioner.id) is False


class _CountingHasher(PasswordHasher):
    """argon2's own hasher, counting its verifications (the costly step an attacker could time)."""

    calls = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        type(self).calls += 1
        return super().verify(hash, password)


def test_every_answer_costs_one_password_check_whether_the_address_exists_or_not(
    ctx, clock, org, monkeypatch
) -> None:
    monkeypatch.setattr(
        account_secrets, "_hasher", _CountingHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    inactive = db.session.get(type(org.colleague), org.colleague.id)
    inactive.active = False
    for email, password in [
        (org.admin.email, "wrong"),
        ("nobody@example.test", "wrong"),
        (org.colleague.email, PASSWORD),
        (org.manager.email, PASSWORD),
    ]:
        _CountingHasher.calls = 0
        _try(email, password, clock)
        assert _CountingHasher.calls == 1, email
