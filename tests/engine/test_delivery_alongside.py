"""A backlog's texts are sent while its next batches are decided, not only in between them.

Real commits on a PostgreSQL scratch database, the twilio SDK against the local fake, the real
sweep. A batched part of the test's own stands for a backlog. During its second batch a text is
queued and committed from another session (as a web process would); the batch then waits for
the fake to receive that text. Sent only between batches, it could arrive only after the batch
returned, and the wait would time out.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.accounts.models import User
from safetycheck.engine import parts
from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation import outbox
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.extensions import db
from tests.escalation.harness import (
    MANAGERS_AT_DUE_POLICY,
    open_app,
    populate,
    scratch_database,
    twilio_config,
    utcnow,
    write_policy,
)
from tests.fake_twilio import FakeTwilio

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL", "")


@pytest.mark.real_commits
@pytest.mark.skipif(
    not SERVER_URL.startswith("postgresql"),
    reason="on SQLite one thread writes at a time: the sweep delivers between a backlog's batches",
)
def test_a_text_queued_during_a_batch_is_sent_before_the_batch_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_path = write_policy(tmp_path, MANAGERS_AT_DUE_POLICY)
    with (
        FakeTwilio() as fake,
        scratch_database(SERVER_URL, tmp_path, "alongside") as url,
        open_app(url, policy_path, extra=twilio_config(fake)) as app,
    ):
        populate(app, visits_due=[utcnow() + timedelta(hours=2)], teams=1)  # nothing due
        with app.app_context():
            worker_id = db.session.scalar(sa.select(User.id).order_by(User.id).limit(1))
            db.session.remove()
        received_during: list[bool] = []

        def queue_elsewhere() -> None:
            with app.app_context():
                worker = db.session.get(User, worker_id)
                assert worker is not None
                outbox.enqueue(
                    dedupe_key="test:alongside",
                    purpose=MessagePurpose.REPLY,
                    recipient=worker,
                    body="queued while a batch is being decided",
                    now=utcnow(),
                )
                db.session.commit()
                db.session.remove()

        calls: list[int] = []

        def backlog(session: Any, now: datetime) -> int:
            calls.append(len(calls))
            if len(calls) == 3:
                return 0  # the backlog is done
            if len(calls) == 2:  # the second batch: a text is committed elsewhere meanwhile
                queuer = threading.Thread(target=queue_elsewhere)
                queuer.start()
                queuer.join()
                try:
                    fake.wait_for_messages(1, timeout=5)
                    received_during.append(True)
                except TimeoutError:
                    received_during.append(False)
            return 1  # a full batch of one

        monkeypatch.setitem(
            parts._PARTS,
            "test.backlog",
            parts.SweepPart(name="test.backlog", run=backlog, stage=parts.DEADLINES, batch=1),
        )
        report = run_sweep(app)

    assert not report.errors, report.errors
    assert received_during == [True], "the text waited for the batch to end"
    assert report.done["escalation.drain_outbox"] == 1
