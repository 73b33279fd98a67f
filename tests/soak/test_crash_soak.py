"""The short crash soak: about 40 s of three workers killed at random on PostgreSQL.

The long run (minutes, hundreds of kills) is `bench/soak.py`; see docs/benchmarks.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.soak.crash_soak import run_soak

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL", "")
ON_POSTGRES = SERVER_URL.startswith(("postgres://", "postgresql"))

# no_cover: tracing slows the in-process parts, and the workers are subprocesses anyway.
pytestmark = [pytest.mark.slow, pytest.mark.real_commits, pytest.mark.no_cover, pytest.mark.postgres_only]


@pytest.mark.skipif(not ON_POSTGRES, reason="three sweeping processes on one database need PostgreSQL")
def test_three_workers_killed_at_random_lose_no_step_and_send_no_text_twice(tmp_path: Path) -> None:
    seconds = float(os.environ.get("SAFETYCHECK_SOAK_SECONDS", "40"))
    result = run_soak(
        server_url=SERVER_URL, directory=tmp_path, seconds=seconds, min_kills=10, max_seconds=3 * seconds
    )
    print("\n" + result.table())
    assert result.problems == [], "\n".join(result.problems[:40])
    assert result.kills >= 10, "the soak killed too few workers to prove anything"
    assert result.steps > 0
    assert result.texts == result.twilio_messages > 0
    assert (result.duplicates, result.lost) == (0, 0)
