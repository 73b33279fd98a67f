"""Deliver the outbox through a bounded pool of sender threads, under a messages-per-second ceiling.

Sending is waiting on Twilio (a request takes 100 to 300 ms), so one sender leaves about four texts a
second. `OUTBOX_SENDERS` threads each run the same three moves as a lone sender: claim one due
text (most urgent first, `FOR UPDATE SKIP LOCKED`; serialised by `BEGIN IMMEDIATE` on SQLite) and
commit, send outside any transaction (restamping first only if the claim has aged past its lease,
`claim_lease.py`), record the outcome and commit.
Each thread has its own app context, so its own session and connection: to the database the
threads are just more senders, and every guarantee that holds across processes (one claim per
text, stale claims reconciled before resending, unique SIDs) holds across them.

`OUTBOX_MAX_PER_SECOND` spaces the sends of one process at least `1/rate` apart, whichever thread
sends. It is per process: with several worker (or web) processes sweeping, give each a share
(the account's ceiling divided by the number of processes).

On SQLite the pool size is effectively 1: the drain sends in the sweep's thread, in batches, as
before the pool (one writer at a time, and with many senders in several processes SQLite's busy
handler starved a sweep past its busy timeout). So it does with `OUTBOX_SENDERS = 1`, and when
every session is bound to one connection (the test suite's rolled-back transaction), which
threads must not share.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from safetycheck.db import threads_may_write_alongside
from safetycheck.escalation import outbox
from safetycheck.escalation.claim_lease import ClaimLease
from safetycheck.escalation.context import Escalation
from safetycheck.escalation.models import OutboxMessage
from safetycheck.extensions import db
from safetycheck.faults import crash_point

log = logging.getLogger(__name__)

# Texts a lone sender claims at once (each restamped before it is sent once the batch has aged).
SEND_BATCH = 50
# A drain stops claiming after this many texts, so the sweep's other parts get their turn.
MAX_TEXTS_PER_DRAIN = 2500
# A pooled drain sends at least this long before it gives way to a decision that is due.
YIELD_AFTER_SECONDS = 0.25
POLL_SECONDS = 0.05
# How often a running drain looks for texts queued since it started, to add senders for them.
GROW_EVERY_SECONDS = 0.2


class RateCeiling:
    """Space the sends of this process at least `1 / per_second` apart (0: no ceiling).

    A token bucket holding one token: no burst above the rate, so any one-second window at
    Twilio sees at most `per_second` texts from this process (plus the one on its boundary).
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self._gap = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")
        self._next_send = float("-inf")

    def wait_turn(self) -> None:
        """Block until this sender may claim and send; each caller gets the next free slot."""
        self._wait("_next_slot")

    def wait_send(self) -> None:
        """Block until this send is `1 / per_second` after the previous one.

        Turns are taken before claiming (so the text claimed is the most urgent at the moment it
        can go), but claiming and restamping take a varying time, which bunched the sends: 23 in
        one second under a ceiling of 20. Spacing the sends themselves is what Twilio sees.
        """
        self._wait("_next_send")

    def _wait(self, queue: str) -> None:
        if not self._gap:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, getattr(self, queue))
            setattr(self, queue, slot + self._gap)
        if slot > now:
            self._sleep(slot - now)


_CEILINGS_LOCK = threading.Lock()


def ceiling_for(app: Flask) -> RateCeiling:
    """The one ceiling of this app (so of this process), shared by every drain and thread."""
    with _CEILINGS_LOCK:
        ceiling: RateCeiling | None = app.extensions.get("safetycheck.sms_ceiling")
        rate = float(app.config.get("OUTBOX_MAX_PER_SECOND") or 0)
        if ceiling is None or ceiling.per_second != rate:
            ceiling = RateCeiling(rate)
            app.extensions["safetycheck.sms_ceiling"] = ceiling
        return ceiling


@dataclass
class DrainResult:
    sent: int = 0
    unrecorded: list[int] = field(default_factory=list)


OnUndeliverable = Callable[[OutboxMessage, Escalation], None]


@dataclass
class _Shared:
    """What the senders of one drain share; every field is read and written under `lock`."""

    ceiling: RateCeiling
    budget: int
    on_undeliverable: OnUndeliverable
    max_urgency: int | None = None  # claim only texts at least this urgent (None: every text)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    claimed: int = 0
    result: DrainResult = field(default_factory=DrainResult)
    # SIDs recorded in this drain: reconciling must not match a text to another's message.
    recorded_sids: set[str] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)

    def take(self, wanted: int) -> int:
        """How many texts this sender may claim now (0: the drain is over)."""
        with self.lock:
            if self.stop.is_set():
                return 0
            granted = min(wanted, self.budget - self.claimed)
            self.claimed += max(granted, 0)
            return max(granted, 0)

    def give_back(self, unused: int) -> None:
        with self.lock:
            self.claimed -= unused

    def taken_sids(self) -> frozenset[str]:
        with self.lock:
            return frozenset(self.recorded_sids)


def drain(
    esc: Escalation,
    *,
    decision_due: Callable[[], bool],
    on_undeliverable: OnUndeliverable,
    max_urgency: int | None = None,
) -> DrainResult:
    """Send what is due, in this thread or through the pool; returns what went and what was lost.

    `decision_due()` tells the pool that a new step is waiting to be decided (a panic raised
    during a burst): the senders then stop claiming, finish what they hold, and the drain returns
    so the sweep can decide it; its texts are claimed first on the next drain.
    `on_undeliverable(message, esc)` runs in the record's transaction when a number is dead.
    `max_urgency` limits the drain to texts at least that urgent (a panic's, between batches).
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    senders = int(app.config.get("OUTBOX_SENDERS") or 1)
    shared = _Shared(
        ceiling=ceiling_for(app),
        budget=MAX_TEXTS_PER_DRAIN,
        on_undeliverable=on_undeliverable,
        max_urgency=max_urgency,
    )
    # SQLite: one writer at a time, and its busy handler's back-off sleeps let a crowd of senders
    # (16 threads in each of several processes) starve a sweep's transaction past the busy
    # timeout. There the drain sends in the sweep's thread, as before the pool.
    if senders <= 1 or not threads_may_write_alongside(db):
        _send_until_done(esc, shared, batch=SEND_BATCH)
        _raise_first(shared)
        return shared.result
    # As many threads as there are texts to claim, up to the pool's size: a sweep with nothing
    # due started sixteen threads (each with its session and connection) for nothing, 37 ms of
    # every empty sweep; a lone panic text needs one. Texts queued meanwhile wait for the next
    # sweep, which their commit's wake brings forward.
    wanted = min(
        senders,
        outbox.claimable(now=esc.now(), stale_after=esc.stale_claim, limit=senders, max_urgency=max_urgency),
    )
    db.session.commit()
    if wanted == 0:
        return shared.result
    threads: list[threading.Thread] = []

    def add_senders(count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(
                target=_sender_thread, args=(app, esc, shared), name=f"sms-sender-{len(threads)}", daemon=True
            )
            threads.append(thread)
            thread.start()

    started = last_grown = time.monotonic()
    add_senders(wanted)
    try:
        while alive := [thread for thread in threads if thread.is_alive()]:
            alive[0].join(POLL_SECONDS)
            if shared.stop.is_set():
                continue
            # Texts queued while the drain runs (a backlog decided alongside it, engine/sweep.py)
            # get senders too: started for the few texts there were at first, five threads
            # carried a whole burst at a quarter of the pool's pace.
            if len(alive) < senders and time.monotonic() - last_grown >= GROW_EVERY_SECONDS:
                last_grown = time.monotonic()
                room = senders - len(alive)
                more = outbox.claimable(
                    now=esc.now(), stale_after=esc.stale_claim, limit=room, max_urgency=max_urgency
                )
                db.session.commit()
                add_senders(more)
            if time.monotonic() - started < YIELD_AFTER_SECONDS:
                continue
            if decision_due():
                log.info("a step is due: the senders stop claiming so the sweep can decide it")
                shared.stop.set()
    finally:
        shared.stop.set()
        for thread in threads:
            thread.join()
    _raise_first(shared)
    return shared.result


def _spaced(ceiling: RateCeiling) -> bool:
    ceiling.wait_send()
    return True


def _renew(claimed: outbox.Claimed, now: datetime) -> outbox.Claimed | None:
    return outbox.renew_claim(claimed, now=now)


def _record_sent(message: outbox.Claimed, result: outbox.Attempt, esc: Escalation, shared: _Shared) -> bool:
    """Record an accepted send in one statement (`outbox.record_sent`); False: record it in full.

    The record is the first statement of its transaction (the claim was committed before the
    send), so a refusal by the unique SID index can roll back and leave the full path a clean start.
    """
    try:
        recorded = outbox.record_sent(message, result, now=esc.now())
        db.session.commit()
    except IntegrityError:  # a row adopted this SID by reconciling: `record_attempt` takes it back
        db.session.rollback()
        return False
    except Exception:
        db.session.rollback()
        log.exception("could not record the attempt for text %s", message.id)
        with shared.lock:
            shared.result.unrecorded.append(message.id)
        return True
    if recorded:
        with shared.lock:
            assert result.sid is not None
            shared.recorded_sids.add(result.sid)
            shared.result.sent += 1
    return True  # recorded, or reclaimed meanwhile: nothing more to do


def _raise_first(shared: _Shared) -> None:
    if shared.errors:
        raise shared.errors[0]


def _sender_thread(app: Flask, esc: Escalation, shared: _Shared) -> None:
    try:
        # A session and a connection of this thread's own, the connection held for the whole
        # drain: checked out per transaction, each text paid two pool check-outs and their
        # pre-ping round trips (a sixth of a sender's time in a burst).
        with app.app_context(), db.engine.connect() as connection:
            db.session.registry.set(db.session.session_factory(bind=connection))
            try:
                _send_until_done(esc, shared, batch=1)
            finally:
                db.session.remove()
    except BaseException as exc:  # handed to the drain, which raises it in the sweep's thread
        with shared.lock:
            shared.errors.append(exc)
        shared.stop.set()


def _send_until_done(esc: Escalation, shared: _Shared, *, batch: int) -> None:
    """Claim, send and record until nothing is due, the budget is spent or the drain is stopped.

    A pooled sender (batch 1) waits for its turn under the ceiling before it claims, so the text
    it takes is the most urgent one due at the moment it can actually send.
    """
    while (wanted := shared.take(batch)) > 0:
        if batch == 1:
            shared.ceiling.wait_turn()
        stamped_at = time.monotonic()  # before the stamp is taken: the claim ages from here
        claimed = outbox.claim_batch(
            now=esc.now(), limit=wanted, stale_after=esc.stale_claim, max_urgency=shared.max_urgency
        )
        db.session.commit()
        crash_point("after_claim")
        shared.give_back(wanted - len(claimed))
        for batched in claimed:
            if batch > 1:
                shared.ceiling.wait_turn()
            _send_one(esc, shared, batched, stamped_at=stamped_at)
        if len(claimed) < wanted:
            return


def _send_one(esc: Escalation, shared: _Shared, batched: outbox.Claimed, *, stamped_at: float) -> None:
    # A claim just committed is sent on as it is (a pooled sender claims one text and sends it at
    # once: restamping it first cost every text a transaction); one that has waited its turn in
    # a lone sender's batch past the lease's budget is restamped, or let go if taken over.
    lease = ClaimLease(batched, renew=_renew, now=esc.now, budget=esc.send_budget, stamped_at=stamped_at)
    if not lease.fresh():
        return  # our claim went stale while waiting its turn; another sender has it
    result = outbox.attempt(
        esc.gateway,
        lease.claim,
        status_callback=esc.status_callback,
        now=esc.now(),
        taken_sids=shared.taken_sids() if batched.outcome_unknown_since is not None else (),
        fresh=lambda: _spaced(shared.ceiling) and lease.fresh(),
    )
    if result.lost:
        log.info("text %s: held up past its claim, which another sender has taken over", batched.id)
        return
    message = lease.claim
    if result.error is None and not result.reconciled and _record_sent(message, result, esc, shared):
        return
    try:
        recorded = outbox.record_attempt(message, result, now=esc.now())
        if recorded is not None and recorded.undeliverable:
            shared.on_undeliverable(recorded.message, esc)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not record the attempt for text %s", message.id)
        with shared.lock:
            shared.result.unrecorded.append(message.id)
        return
    if recorded is None:
        return  # reclaimed meanwhile, or a reconcile that must look again: nothing done
    with shared.lock:
        if result.sid:
            shared.recorded_sids.add(result.sid)
        if result.error is None:
            shared.result.sent += 1
    if result.error is not None:
        log.warning("text %s to %s: %s", message.id, message.to_phone, result.error)
