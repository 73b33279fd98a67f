"""Reconciling never adopts the message of another text with the same number and words.

Two outbox rows can carry exactly the same words to the same person (repeats of one step, a
manager told about two alarms of one worker at once). When one of them has an unknown outcome and
the other is being sent at that very moment by another process, Twilio's list shows the other's
message before its sender has recorded it: adopting it would leave two rows claiming one SID
(`sms_outbox.sid` is unique), one text never sent, and the drain failing on the collision.
Each test plays the two senders' moves in the order that used to go wrong, on the frozen clock,
through the real twilio SDK and the fake Twilio server.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from safetycheck.escalation import outbox
from safetycheck.escalation.context import escalation_for
from safetycheck.escalation.enums import MessagePurpose, OutboxStatus
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db

BODY = "[SafetyCheck] the same words twice"


def queue(org, clock, key: str) -> int:
    message = outbox.enqueue(
        dedupe_key=key, purpose=MessagePurpose.ESCALATION, recipient=org.manager, body=BODY, now=clock.now()
    )
    assert message is not None
    db.session.commit()
    return message.id


def record(claimed: outbox.Claimed, result: outbox.Attempt, clock) -> list[str]:
    """What the drain does with an attempt: record and commit, or roll back and note the error."""
    try:
        outbox.record_attempt(claimed, result, now=clock.now())
        db.session.commit()
    except Exception as exc:  # the drain survives this; the test fails on it
        db.session.rollback()
        return [type(exc).__name__]
    return []


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def stranded_and_fresh(ctx: Flask, org, clock) -> tuple[outbox.Claimed, outbox.Claimed]:
    """Row A claimed by a sender that died (so its outcome is unknown), row C newly queued."""
    a = queue(org, clock, "collision:a")
    assert [c.id for c in outbox.claim_batch(now=clock.now())] == [a]
    db.session.commit()  # ... and the sender dies before sending
    clock.advance(seconds=61)  # past the stale-claim threshold
    c = queue(org, clock, "collision:c")
    claimed = {m.id: m for m in outbox.claim_batch(now=clock.now())}
    db.session.commit()
    assert claimed[a].outcome_unknown_since is not None
    assert claimed[c].outcome_unknown_since is None
    return claimed[a], claimed[c]


def test_a_reconcile_does_not_adopt_a_message_another_sender_has_not_recorded_yet(
    ctx, org, clock, fake_twilio, sweep
) -> None:
    esc = escalation_for(ctx)
    a, c = stranded_and_fresh(ctx, org, clock)
    # Sender 2 sends C; before it records, sender 1 reconciles A and sees C's message.
    sent_c = outbox.attempt(esc.gateway, c, status_callback=None, now=clock.now())
    found_a = outbox.attempt(esc.gateway, a, status_callback=None, now=clock.now())
    assert found_a.sid == sent_c.sid
    assert found_a.reconciled

    errors = record(a, found_a, clock) + record(c, sent_c, clock)

    assert errors == []
    by_id = {r.id: r for r in rows()}
    assert (by_id[c.id].status, by_id[c.id].sid) == (OutboxStatus.SENT, sent_c.sid)
    assert by_id[a.id].status == OutboxStatus.PENDING
    assert by_id[a.id].sid is None
    assert by_id[a.id].attempts == a.attempts - 1, "a deferred reconcile must not use up an attempt"
    clock.advance(seconds=10)
    sweep()  # A looks again: C's message is taken now, so A is sent
    final = rows()
    assert [r.status for r in final] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert sorted(r.sid for r in final) == sorted(m.sid for m in fake_twilio.messages)
    assert len(fake_twilio.messages) == 2


def test_a_sent_sid_adopted_by_another_row_is_taken_back_and_that_row_reconciled_again(
    ctx, org, clock, fake_twilio, sweep
) -> None:
    """The backstop: should a reconcile have adopted a message anyway (a race between its check
    and the sender's record), the sender's SID is certain, the adopter's a guess."""
    esc = escalation_for(ctx)
    a, c = stranded_and_fresh(ctx, org, clock)
    sent_c = outbox.attempt(esc.gateway, c, status_callback=None, now=clock.now())
    holder = db.session.get(OutboxMessage, a.id)
    assert holder is not None
    holder.status, holder.sid, holder.sent_at = OutboxStatus.SENT, sent_c.sid, clock.now()
    db.session.commit()

    assert record(c, sent_c, clock) == []

    by_id = {r.id: r for r in rows()}
    assert (by_id[c.id].status, by_id[c.id].sid) == (OutboxStatus.SENT, sent_c.sid)
    assert by_id[a.id].status == OutboxStatus.PENDING
    assert by_id[a.id].outcome_unknown_since is not None
    clock.advance(timedelta(seconds=1))
    sweep()
    final = rows()
    assert [r.status for r in final] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert sorted(r.sid for r in final) == sorted(m.sid for m in fake_twilio.messages)
    assert len(fake_twilio.messages) == 2


def test_a_reconcile_still_adopts_its_own_message(ctx, org, clock, fake_twilio, sweep) -> None:
    """The check is not a refusal to reconcile: with no other text in flight, a message that
    reached Twilio before its sender died is recorded, not sent again."""
    esc = escalation_for(ctx)
    a = queue(org, clock, "collision:own")
    [claimed] = outbox.claim_batch(now=clock.now())
    db.session.commit()
    reached = outbox.attempt(esc.gateway, claimed, status_callback=None, now=clock.now())
    clock.advance(seconds=61)  # ... the sender died before recording
    sweep()
    [row] = rows()
    assert (row.id, row.status, row.sid) == (a, OutboxStatus.SENT, reached.sid)
    assert len(fake_twilio.messages) == 1


def test_the_senders_one_statement_record_gives_way_to_the_full_one_when_a_row_holds_its_sid(
    ctx, org, clock, fake_twilio, sweep, monkeypatch
) -> None:
    """A sender records an accepted send in one guarded UPDATE (`outbox.record_sent`). When a
    reconciled row already holds the SID, the unique index refuses it; the sender then rolls
    back and records in full, which takes the SID back: nothing is lost or left unrecorded."""
    a, c = queue(org, clock, "fast:a"), queue(org, clock, "fast:c")
    holder = db.session.get(OutboxMessage, a)
    assert holder is not None
    taken = "ab" * 16
    holder.status, holder.sid, holder.sent_at = OutboxStatus.SENT, f"SM{taken}", clock.now()
    holder.outcome_unknown_since = clock.now()  # it adopted the SID by reconciling: a guess
    db.session.commit()
    # The fake gives C's send the very SID A holds (as if A had adopted C's message).
    monkeypatch.setattr("tests.fake_twilio.secrets.token_hex", lambda _n: taken)

    report = sweep()

    assert report.done["escalation.drain_outbox"] == 1  # C, recorded on the full path
    by_id = {r.id: r for r in rows()}
    assert (by_id[c].status, by_id[c].sid) == (OutboxStatus.SENT, f"SM{taken}")
    assert (by_id[a].status, by_id[a].sid) == (OutboxStatus.PENDING, None)
    monkeypatch.undo()
    clock.advance(seconds=10)
    sweep()  # A looks again: the only message with its words is C's, so A is sent
    final = rows()
    assert [r.status for r in final] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert sorted(r.sid for r in final) == sorted(m.sid for m in fake_twilio.messages)
    assert len(fake_twilio.messages) == 2
