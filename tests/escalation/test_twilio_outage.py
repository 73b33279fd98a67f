"""A Twilio outage: 500s for a quarter of an hour, then requests that hang, then recovery.

On the frozen clock, through the real twilio SDK against the fake Twilio server. What must hold:
no text is given up on however long the outage lasts (the back-off of MAX_ATTEMPTS alone runs
out after four minutes), each text reaches Twilio exactly once even when Twilio took it and the
answer never came back, the backlog leaves most urgent, then oldest, first once Twilio answers
again, and /readyz and /metrics show the outage while it lasts, without the service becoming
"not ready" (its pages must stay in the load balancer; see docs/escalation.md).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from safetycheck.escalation import outbox as outbox_service
from safetycheck.escalation import panic
from safetycheck.escalation.enums import OutboxStatus
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests.escalation import helpers as h
from tests.escalation.test_ops import metric, metrics


def sms_health(client: Any) -> dict[str, Any]:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()  # texts waiting never fail readiness
    return answer.get_json()["checks"]["sms"]


def test_no_text_is_lost_or_sent_twice_through_a_long_outage_and_the_backlog_leaves_oldest_first(
    app, client, clock, org, fake_twilio, sweep
) -> None:
    start = clock.now()
    with app.app_context():
        for person in (org.practitioner, org.colleague, org.other_practitioner):
            visit_service.check_in(
                person, address="1 Outage Row", now=start, max_minutes=720, duration_minutes=30
            )
        db.session.commit()
    sweep()
    assert sms_health(client)["texts_leaving"] is True

    # Twilio answers 500 to everything, from the moment the visits fall due, for 15 minutes.
    fake_twilio.outage("error")
    h.move_to(clock, start, minutes=30)
    sweep()
    health = sms_health(client)
    assert (health["ok"], health["texts_leaving"], health["retrying"]) == (True, False, 3)
    samples = metrics(client)
    assert metric(samples, "safetycheck_sms_texts_leaving") == 0
    assert metric(samples, "safetycheck_outbox_retrying") == 3
    for _ in range(30):
        clock.advance(seconds=30)
        if clock.now() == start + timedelta(minutes=35):
            with app.app_context():
                panic.raise_panic(org.colleague, now=clock.now(), message="outage panic")
                db.session.commit()
        sweep()
    rows = h.outbox(app)
    assert not [r for r in rows if r.status == OutboxStatus.FAILED], "an outage made the outbox give up"
    assert max(r.attempts for r in rows) > outbox_service.MAX_ATTEMPTS
    assert fake_twilio.messages == []
    assert metric(metrics(client), "safetycheck_outbox_oldest_waiting_seconds") == 15 * 60

    # Then requests hang past the SDK's timeout; Twilio takes the texts, the answers never come.
    fake_twilio.outage("hang", seconds=5, accept=True)
    for _ in range(2):
        clock.advance(minutes=2)
        sweep()
    hung = len(fake_twilio.messages)
    assert hung > 0
    assert sms_health(client)["texts_leaving"] is False

    fake_twilio.outage(None)
    recovered = len(fake_twilio.messages)
    # Nothing tells the outbox that Twilio is back: each text waits out its back-off (two
    # minutes at most); the first through pulls the others forward.
    clock.advance(minutes=2)
    sweep()
    clock.advance(seconds=1)
    sweep()

    rows = h.outbox(app)
    assert [r.id for r in rows if r.status != OutboxStatus.SENT] == []
    received = fake_twilio.messages
    assert Counter((m.to, m.body) for m in received) == Counter((r.to_phone, r.body) for r in rows)
    assert sorted(m.sid for m in received) == sorted(r.sid for r in rows), "a text went twice"
    # Those that had not reached Twilio leave most urgent first (the panic's), then oldest first.
    created = {r.sid: (r.urgency, r.created_at, r.id) for r in rows}
    after = [created[m.sid] for m in received[recovered:]]
    assert after == sorted(after)
    assert len(after) + hung == len(rows)
    health = sms_health(client)
    assert (health["texts_leaving"], health["retrying"], health["waiting"]) == (True, 0, 0)
    samples = metrics(client)
    assert metric(samples, "safetycheck_sms_texts_leaving") == 1
    assert metric(samples, "safetycheck_outbox_oldest_waiting_seconds") == 0
