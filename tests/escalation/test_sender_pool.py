"""The pool of senders: texts leave in parallel, under the ceiling, each exactly once.

Real commits on a scratch database (SQLite, or PostgreSQL with SAFETYCHECK_TEST_DATABASE_URL),
the app on the real clock, the real twilio SDK against the fake Twilio, which can take a set time
to answer every request (real Twilio takes 100 to 300 ms). Texts are queued through
`outbox.enqueue` and sent by the real sweep.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import outbox
from safetycheck.escalation.enums import MessagePurpose, OutboxStatus
from safetycheck.escalation.models import OutboxMessage
from safetycheck.escalation.sender_pool import RateCeiling
from safetycheck.escalation.urgency import Urgency
from safetycheck.extensions import db
from tests.escalation.harness import (
    FINITE_POLICY,
    Sweepers,
    open_app,
    scratch_database,
    twilio_config,
    utcnow,
    wait_until,
    write_policy,
)
from tests.fake_twilio import FakeTwilio

# no_cover: line tracing slows every sender thread, and these tests time them.
pytestmark = [pytest.mark.slow, pytest.mark.real_commits, pytest.mark.no_cover]

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL")
ON_POSTGRES = bool(SERVER_URL and SERVER_URL.startswith(("postgres://", "postgresql")))
SETTINGS = {"OUTBOX_STALE_CLAIM_SECONDS": 1.0, "TWILIO_TIMEOUT_SECONDS": 0.5}
_PHONES = itertools.count(1)


@contextmanager
def world(
    tmp: Path, *, apps: int = 1, **settings: Any
) -> Iterator[tuple[FakeTwilio, list[Flask], str, Path]]:
    """A fake Twilio, a scratch database and `apps` apps on it (each like a process of its own)."""
    policy_path = write_policy(tmp, FINITE_POLICY)
    with ExitStack() as stack:
        fake = stack.enter_context(FakeTwilio())
        url = stack.enter_context(scratch_database(SERVER_URL, tmp, "pool"))
        made = [
            stack.enter_context(
                open_app(url, policy_path, extra={**twilio_config(fake), **SETTINGS, **settings})
            )
            for _ in range(apps)
        ]
        yield fake, made, url, policy_path


def queue_texts(
    app: Flask, count: int, *, purpose: MessagePurpose = MessagePurpose.REMINDER, people: int = 5
) -> list[int]:
    """`count` texts due now, to `people` practitioners in turn; returns their ids."""
    now = utcnow()
    tag = secrets.token_hex(3)
    with app.app_context():
        team = account_service.create_team(name=f"Pool team {tag}", now=now)
        users = [
            account_service.create_user(
                name=f"Pool person {i}",
                email=f"pool{i}-{tag}@pool.test",
                phone=f"+447401{next(_PHONES):06d}",
                role=Role.PRACTITIONER,
                team_id=team.id,
                password="pool password",
                now=now,
            )
            for i in range(people)
        ]
        ids = []
        for i in range(count):
            message = outbox.enqueue(
                dedupe_key=f"pool:{tag}:{i}",
                purpose=purpose,
                recipient=users[i % people],
                body=f"Pool text {tag} {i}",
                now=now,
            )
            assert message is not None
            ids.append(message.id)
        db.session.commit()
        db.session.remove()
    return ids


def rows(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        db.session.remove()
    return found


def assert_each_sent_once(app: Flask, fake: FakeTwilio) -> None:
    """Every row sent, and the fake got exactly one message per row: same SID, number, words."""
    sent = rows(app)
    assert [r.id for r in sent if r.status != OutboxStatus.SENT] == []
    messages = fake.messages
    assert sorted(m.sid for m in messages) == sorted(r.sid for r in sent), "a text went twice or not at all"
    assert Counter((m.to, m.body) for m in messages) == Counter((r.to_phone, r.body) for r in sent)
    assert all(n == 1 for n in Counter((m.to, m.body) for m in messages).values())


def sweep_until_sent(app: Flask, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(r.status in (OutboxStatus.PENDING, OutboxStatus.SENDING) for r in rows(app)):
        report = run_sweep(app)
        assert not report.errors, report.errors
        assert time.monotonic() < deadline, "the outbox did not drain"
        time.sleep(0.1)


# --- the pool -------------------------------------------------------------------------------------


@pytest.mark.skipif(not ON_POSTGRES, reason="on SQLite the drain sends in the sweep's thread (pool of 1)")
def test_the_pool_sends_in_parallel(tmp_path: Path) -> None:
    """16 texts, Twilio answering each in 1 s: one after another they take 16 s; eight senders
    take about 2 s. (A long answer, so that the CPU a text costs, which a busy machine stretches,
    does not hide the waiting: the test allows up to half the serial time.)"""
    slow = {"TWILIO_TIMEOUT_SECONDS": 3.0, "OUTBOX_STALE_CLAIM_SECONDS": 10.0}
    with world(tmp_path, OUTBOX_SENDERS=8, **slow) as (fake, [app], _, _):
        queue_texts(app, 16)
        fake.latency = 1.0
        started = time.monotonic()
        report = run_sweep(app)
        elapsed = time.monotonic() - started
        assert not report.errors, report.errors
        assert report.done["escalation.drain_outbox"] == 16
        assert fake.max_in_flight >= 6, "the senders did not overlap"
        assert elapsed < 16 * 1.0 / 2, f"{elapsed:.2f} s: not parallel"
        assert_each_sent_once(app, fake)


@pytest.mark.skipif(not ON_POSTGRES, reason="on SQLite the drain sends in the sweep's thread (pool of 1)")
def test_texts_queued_while_a_drain_runs_get_senders_of_their_own(tmp_path: Path) -> None:
    """The drain starts one sender for the one text due; fifteen more are committed while it is
    sent (a backlog decided alongside, as in a burst). Left to that one sender they would go one
    after another; the drain adds senders for them."""
    slow = {"TWILIO_TIMEOUT_SECONDS": 3.0, "OUTBOX_STALE_CLAIM_SECONDS": 10.0}
    with world(tmp_path, OUTBOX_SENDERS=8, **slow) as (fake, [app], _, _):
        queue_texts(app, 1)
        fake.latency = 1.0

        def queue_more() -> None:
            assert wait_until(lambda: fake._in_flight > 0, timeout=10, interval=0.01)
            queue_texts(app, 15)

        more = threading.Thread(target=queue_more)
        more.start()
        report = run_sweep(app)
        more.join()
        assert not report.errors, report.errors
        assert report.done["escalation.drain_outbox"] == 16
        assert fake.max_in_flight >= 6, f"{fake.max_in_flight} in flight at most: no senders were added"
        assert_each_sent_once(app, fake)


@pytest.mark.skipif(not ON_POSTGRES, reason="on SQLite the drain sends in the sweep's thread (pool of 1)")
def test_a_sender_holds_one_connection_for_its_whole_drain(tmp_path: Path) -> None:
    """Checked out per transaction, a connection cost each text two check-outs and their
    pre-ping round trips; and a pool smaller than the senders opened a new PostgreSQL connection
    for nearly every text. 40 texts through 4 senders: a handful of check-outs and connections."""
    with world(tmp_path, OUTBOX_SENDERS=4) as (fake, [app], _, _):
        queue_texts(app, 40)
        fake.latency = 0.02
        with app.app_context():
            engine = db.engine
        counted: Counter[str] = Counter()

        def checkout(*_: Any) -> None:
            counted["checkouts"] += 1

        def connect(*_: Any) -> None:
            counted["connections"] += 1

        sa.event.listen(engine, "checkout", checkout)
        sa.event.listen(engine, "connect", connect)
        try:
            report = run_sweep(app)
        finally:
            sa.event.remove(engine, "checkout", checkout)
            sa.event.remove(engine, "connect", connect)
        assert report.done["escalation.drain_outbox"] == 40
        # The sweep's own parts check out once each (about 25), the senders once each (4).
        assert counted["checkouts"] < 40, counted
        assert counted["connections"] <= 4 + 1, counted
        assert_each_sent_once(app, fake)


def test_one_sender_sends_one_text_after_another(tmp_path: Path) -> None:
    with world(tmp_path, OUTBOX_SENDERS=1) as (fake, [app], _, _):
        queue_texts(app, 5)
        fake.latency = 0.05
        report = run_sweep(app)
        assert report.done["escalation.drain_outbox"] == 5
        assert fake.max_in_flight == 1
        assert_each_sent_once(app, fake)


def test_the_ceiling_holds_whatever_the_pool(tmp_path: Path) -> None:
    """At most 20 a second leave, although eight senders and an instant Twilio could do far more."""
    with world(tmp_path, OUTBOX_SENDERS=8, OUTBOX_MAX_PER_SECOND=20) as (fake, [app], _, _):
        queue_texts(app, 30)
        started = time.monotonic()
        report = run_sweep(app)
        elapsed = time.monotonic() - started
        assert report.done["escalation.drain_outbox"] == 30
        arrivals = sorted(m.received_at for m in fake.messages if m.received_at is not None)
        assert len(arrivals) == 30
        busiest = max(sum(1 for t in arrivals if 0 <= (t - start).total_seconds() < 1) for start in arrivals)
        # 20 a second plus the one on the window's boundary, plus one: the fake sees arrivals, and
        # a sender's first request (its connection being opened) can arrive with the next one.
        assert busiest <= 22, f"{busiest} texts within one second"
        gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(arrivals))
        assert gaps[len(gaps) // 2] >= 0.9 / 20, f"sends not spaced: {gaps}"
        assert elapsed >= 29 / 20 * 0.95, "the ceiling did not slow the senders"
        assert_each_sent_once(app, fake)


def test_the_ceiling_spaces_sends_and_saves_no_burst_while_idle() -> None:
    """A bucket of one token: no burst above the rate, even after a long idle spell."""
    moment = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        moment[0] += seconds

    ceiling = RateCeiling(4, clock=lambda: moment[0], sleep=sleep)
    for _ in range(4):
        ceiling.wait_turn()
    assert slept == [0.25, 0.25, 0.25]
    moment[0] += 60  # idle for a minute
    ceiling.wait_turn()
    ceiling.wait_turn()
    assert slept == [0.25, 0.25, 0.25, 0.25]
    unlimited = RateCeiling(0, clock=lambda: moment[0], sleep=sleep)
    for _ in range(10):
        unlimited.wait_turn()
    assert len(slept) == 4


def test_sends_are_spaced_even_when_turns_taken_earlier_bunch_up() -> None:
    """Turns are taken before claiming; a slow claim then a fast one must not put two sends closer
    than the gap: the sends keep a spacing of their own."""
    moment = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        moment[0] += seconds

    ceiling = RateCeiling(4, clock=lambda: moment[0], sleep=sleep)
    ceiling.wait_turn()  # sender A's turn at 100.0
    moment[0] += 0.2  # A's claim and restamp are slow
    ceiling.wait_send()  # A sends at 100.2
    ceiling.wait_turn()  # B's turn at 100.25 (slept 0.05), its claim is instant
    ceiling.wait_send()  # without its own spacing B would send at 100.25, 50 ms after A
    assert slept == [0.05, 0.2]
    assert moment[0] == pytest.approx(100.45)


def test_the_pool_sends_the_panic_first(tmp_path: Path) -> None:
    """A text of panic urgency queued after 60 reminders is among the first the four senders take."""
    with world(tmp_path, OUTBOX_SENDERS=4) as (fake, [app], _, _):
        queue_texts(app, 60)
        [panic_id] = queue_texts(app, 1, purpose=MessagePurpose.REPLY, people=1)
        with app.app_context():
            db.session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.id == panic_id).values(urgency=Urgency.PANIC)
            )
            db.session.commit()
        fake.latency = 0.02
        run_sweep(app)
        [panic] = [r for r in rows(app) if r.id == panic_id]
        order = [m.sid for m in fake.messages]
        assert order.index(panic.sid) < 4, "the panic waited behind reminders"
        assert_each_sent_once(app, fake)


def test_pools_in_several_apps_send_each_text_once(tmp_path: Path) -> None:
    """Three apps (as three processes would) with eight senders each drain one outbox at once."""
    with world(tmp_path, apps=3, OUTBOX_SENDERS=8) as (fake, apps, _, _):
        queue_texts(apps[0], 150, people=10)
        fake.latency = 0.02
        errors: list[BaseException] = []

        def sweep(app: Flask) -> None:
            try:
                for _ in range(3):
                    report = run_sweep(app)
                    assert not report.errors, report.errors
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=sweep, args=(app,)) for app in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        sweep_until_sent(apps[0])
        assert_each_sent_once(apps[0], fake)


def test_a_process_killed_mid_pool_leaves_nothing_sent_twice(tmp_path: Path) -> None:
    """A sweep process with eight senders kills itself just after one send, while the others are
    waiting on Twilio (which takes their texts, the answers never arriving). What it claimed is
    reclaimed once stale, looked for at Twilio, and never sent a second time."""
    with world(tmp_path) as (fake, [app], url, policy_path):
        queue_texts(app, 40, people=8)
        fake.latency = 0.2
        with Sweepers(
            url=url,
            fake=fake,
            policy_path=policy_path,
            directory=tmp_path,
            stale_claim=1.0,
            twilio_timeout=0.5,
        ) as sweepers:
            env = {"crash_points": "after_send"}
            code = sweepers.sweep(name="crash-mid-pool", timeout=120, **env)
            assert code == -signal.SIGKILL, sweepers.logs()
        stranded = [r for r in rows(app) if r.status == OutboxStatus.SENDING]
        assert len(stranded) > 1, "the process died with one text in hand: the pool was not busy"
        time.sleep(0.5)  # the fake takes the texts whose answers nobody waits for any more
        assert len(fake.messages) > len([r for r in rows(app) if r.status == OutboxStatus.SENT])

        time.sleep(1.1)  # past the stale-claim threshold
        sweep_until_sent(app)
        assert_each_sent_once(app, fake)


# --- a sender held up past its claim ----------------------------------------------------------------


def outcome_unknown(app: Flask, text_id: int) -> None:
    """As a sender that died after sending, maybe, leaves it: the next one asks Twilio first."""
    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == text_id)
            .values(outcome_unknown_since=utcnow() - timedelta(seconds=5))
        )
        db.session.commit()
        db.session.remove()


def test_a_sender_held_up_past_its_claim_lets_the_text_go_to_the_sender_that_reclaimed_it(
    tmp_path: Path,
) -> None:
    """The race behind a text once sent twice, 45 ms apart: a sender restamps its claim, is held
    up (here by a slow reconcile lookup; on a loaded machine, by the scheduler) until the claim
    looks stale, and another sender reclaims it, finds nothing at Twilio and sends it. The first
    must then not send as well: past its budget it restamps, which fails, and it lets go."""
    stale = {"OUTBOX_STALE_CLAIM_SECONDS": 1.0, "TWILIO_TIMEOUT_SECONDS": 0.7}  # budget 0.3 s
    with world(tmp_path, apps=2, **stale) as (fake, [first, other], _, _):
        [text_id] = queue_texts(first, 1)
        outcome_unknown(first, text_id)
        fake.latency = 0.6  # the lookup answers after 0.6 s, past the 0.3 s budget
        sweep = threading.Thread(target=run_sweep, args=(first,))
        sweep.start()
        assert wait_until(lambda: fake._in_flight > 0, timeout=10, interval=0.01), "no lookup"
        with other.app_context():  # the other sender, where the first claim already looks stale
            [taken] = outbox.claim_batch(
                now=utcnow() + timedelta(seconds=2), limit=5, stale_after=timedelta(seconds=1)
            )
            db.session.commit()
            db.session.remove()
        sweep.join(timeout=30)
        assert not sweep.is_alive()

        assert fake.messages == [], "the held-up sender sent on a claim it had lost"
        [row] = rows(first)
        assert (row.status, row.claimed_at, row.attempts) == (OutboxStatus.SENDING, taken.claimed_at, 2)


def test_a_sender_whose_lookup_is_prompt_sends_the_text_once(tmp_path: Path) -> None:
    """The other side: a prompt lookup leaves the claim fresh, and the text goes, once."""
    with world(tmp_path, OUTBOX_SENDERS=1) as (fake, [app], _, _):
        [text_id] = queue_texts(app, 1)
        outcome_unknown(app, text_id)
        report = run_sweep(app)
        assert report.done["escalation.drain_outbox"] == 1
        assert_each_sent_once(app, fake)
        [row] = rows(app)
        assert row.attempts == 1
