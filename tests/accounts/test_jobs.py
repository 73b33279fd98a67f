"""The sweep forgets stale sign-in failure counts and long-ended browser sessions."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from safetycheck.accounts import sessions, signin
from safetycheck.accounts.jobs import purge_signin_records
from safetycheck.accounts.models import SigninThrottle, WebSession
from safetycheck.extensions import db

RULES = sessions.SessionRules(idle=timedelta(hours=2), maximum=timedelta(hours=12))


def test_stale_records_go_and_live_ones_stay(ctx, clock, org) -> None:
    start = clock.now()
    signin.attempt(email="old@example.test", password="x", now=start, rules=signin.SigninRules(), channel="t")
    old = sessions.start_session(org.admin, now=start, rules=RULES)
    sessions.end_session(old.record.id, now=start)
    clock.advance(days=31)
    now = clock.now()
    signin.attempt(email="new@example.test", password="x", now=now, rules=signin.SigninRules(), channel="t")
    live = sessions.start_session(org.admin, now=now, rules=RULES)

    assert purge_signin_records(db.session, now) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SigninThrottle)) == 1
    assert list(db.session.scalars(sa.select(WebSession.id))) == [live.record.id]


def test_the_sweep_runs_the_purge(sweep, clock, org) -> None:
    report = sweep()
    assert not report.errors
