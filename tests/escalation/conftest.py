"""Fixtures shared by the escalation tests."""

from __future__ import annotations

import pytest

from tests.escalation import helpers as h


@pytest.fixture
def duty(app, clock, org):
    """An on-call duty officer from another team, so `on_call` differs from `team_managers`."""
    return h.make_duty_officer(app, org, now=clock.now())


@pytest.fixture
def worker(as_user, org):
    """The practitioner's phone."""
    return as_user(org.practitioner)


@pytest.fixture
def boss(as_user, org):
    """The practitioner's manager."""
    return as_user(org.manager)
