"""Reconciling a text whose sender died: ask Twilio, but never take another text's message for it.

A sender killed after claiming texts leaves them `sending`; once the claim is stale the next sweep
asks Twilio whether each went before sending it again. Twilio has no idempotency key, so the
only evidence is number and words, and a manager's texts for consecutive steps of one alarm can
have exactly the same words. These tests drive the real sweep on the frozen clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck import create_app
from safetycheck.escalation import outbox, policy
from safetycheck.escalation.context import escalation_for
from safetycheck.escalation.enums import OutboxStatus
from safetycheck.escalation.gateways import TwilioSms
from safetycheck.escalation.models import OutboxMessage
from safetycheck.escalation.sweep_parts import advance_due_alarms
from safetycheck.extensions import db
from safetycheck.settings import ConfigError
from safetycheck.visits import service as visit_service
from tests.fake_twilio import FakeTwilio

# The managers' two steps a minute apart: both texts fall inside the window reconciling searches.
CLOSE_STEPS = policy.parse_policy(
    {
        "reminder": {"before": 0},
        "overdue": {
            "steps": [
                {"after": 0, "notify": ["practitioner"]},
                {"after": 60, "notify": ["team_managers"]},
                {"after": 120, "notify": ["team_managers", "on_call"]},
            ]
        },
        "panic": {"steps": [{"after": 0, "notify": ["team_managers"]}]},
        "duress": {"steps": [{"after": 0, "notify": ["team_managers"]}]},
    },
    "close-steps",
)


@pytest.fixture
def close_steps(app: Flask) -> Iterator[policy.Policy]:
    previous = app.extensions["safetycheck.policy"]
    app.extensions["safetycheck.policy"] = CLOSE_STEPS
    yield CLOSE_STEPS
    app.extensions["safetycheck.policy"] = previous


def texts_to(phone: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.to_phone == phone).order_by(OutboxMessage.id)
        )
    )


def test_a_stranded_text_is_sent_even_when_an_earlier_text_had_the_same_words(
    ctx, org, clock, fake_twilio, sweep, close_steps
) -> None:
    visit_service.check_in(
        org.practitioner, address="1 Close Street", now=clock.now(), max_minutes=720, duration_minutes=1
    )
    db.session.commit()
    clock.advance(seconds=60)
    sweep()  # overdue: the practitioner is texted
    clock.advance(seconds=60)
    sweep()  # execution 2: the managers
    [second] = texts_to(org.manager.phone)
    assert second.status == OutboxStatus.SENT
    # Execution 3 is decided and its texts claimed, then the sender dies before sending.
    clock.advance(seconds=60)
    esc = escalation_for(ctx)
    advance_due_alarms(esc, clock.now())
    db.session.commit()
    stranded = outbox.claim_batch(now=clock.now())
    db.session.commit()
    assert {m.to_phone for m in stranded} == {org.manager.phone, org.on_call.phone}

    clock.advance(seconds=61)  # the claim is stale: the next sweep reconciles
    sweep()

    second, third = texts_to(org.manager.phone)
    assert third.body == second.body  # the trap: same alarm, same words
    assert third.status == OutboxStatus.SENT
    assert third.sid != second.sid
    to_manager = [m for m in fake_twilio.messages if m.to == org.manager.phone]
    assert sorted(m.sid for m in to_manager) == sorted([second.sid, third.sid])


def test_a_stranded_text_that_did_reach_twilio_is_recorded_not_resent(
    ctx, org, clock, fake_twilio, sweep, close_steps
) -> None:
    visit_service.check_in(
        org.practitioner, address="2 Close Street", now=clock.now(), max_minutes=720, duration_minutes=1
    )
    db.session.commit()
    clock.advance(seconds=60)
    sweep()
    clock.advance(seconds=60)
    sweep()
    clock.advance(seconds=60)
    esc = escalation_for(ctx)
    advance_due_alarms(esc, clock.now())
    db.session.commit()
    stranded = {m.to_phone: m for m in outbox.claim_batch(now=clock.now())}
    db.session.commit()
    # The sender reached Twilio with the manager's text, then died before recording it.
    reached = outbox.attempt(esc.gateway, stranded[org.manager.phone], status_callback=None, now=clock.now())
    assert reached.sid is not None

    clock.advance(seconds=61)
    sweep()

    second, third = texts_to(org.manager.phone)
    assert (third.status, third.sid) == (OutboxStatus.SENT, reached.sid)
    assert [m.sid for m in fake_twilio.messages if m.to == org.manager.phone] == [second.sid, third.sid]


def test_the_stale_claim_threshold_must_outlast_the_twilio_timeout(base_config) -> None:
    """Otherwise a sender still waiting for Twilio would have its text reclaimed and sent again."""
    with pytest.raises(ConfigError, match="OUTBOX_STALE_CLAIM_SECONDS must be longer"):
        create_app({**base_config, "OUTBOX_STALE_CLAIM_SECONDS": 10, "TWILIO_TIMEOUT_SECONDS": 10})


def test_reconciling_finds_a_text_behind_many_newer_ones_to_the_same_number() -> None:
    """An on-call manager can be sent dozens of texts while a stranded one waits to be
    reconciled; looking at only the latest few would miss it and send it a second time."""
    to = "+447700900123"
    with (
        FakeTwilio() as fake,
        TwilioSms(fake.account_sid, fake.auth_token, "+447700900999", fake.base_url, timeout=2) as sms,
    ):
        since = datetime.now(UTC)
        stranded = sms.send(to=to, body="the stranded one")
        for n in range(60):
            sms.send(to=to, body=f"a later one {n}")

        found = sms.find_sent(to=to, since=since)

    assert stranded.sid in {r.sid for r in found}
    assert len(found) == 61
