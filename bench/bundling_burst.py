"""Count the texts a burst of overdue visits in one team sends, with and without bundling.

    .venv/bin/python bench/bundling_burst.py --visits 100
    .venv/bin/python bench/bundling_burst.py --visits 100 \\
        --database-url postgresql://postgres@127.0.0.1:5432/bench_bundling

One team with two managers (one of them on call) and `--visits` practitioners, each checked in
for 30 minutes at the same moment, on a scratch database (a SQLite file, or a new database on the
PostgreSQL server named, dropped after). The default policy runs on a frozen clock: a sweep at the
due time (each worker is texted), at +10 min (the team's managers) and at +20 min (managers and
on-call). It is run twice, with SAFETYCHECK_ESCALATION_BUNDLE_MAX_ALARMS 1 (no bundling: one text
per alarm) and 10 (the default), through the console gateway; the table counts texts, SMS
segments (GSM-7: 160 characters alone, 153 a part; UCS-2: 70 and 67) and characters per text.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck.accounts import secrets as account_secrets
from safetycheck.accounts.enums import Role
from safetycheck.clock import FrozenClock
from safetycheck.engine.sweep import run_sweep
from safetycheck.escalation.gateways import ConsoleSms
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from tests import factories
from tests.escalation.harness import open_app, scratch_database, utcnow, write_policy

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
DEFAULT_POLICY = """
[reminder]
before = 0

[overdue]
steps = [
  { after = 0,    notify = ["practitioner"] },
  { after = 600,  notify = ["team_managers"] },
  { after = 1200, notify = ["team_managers", "on_call"], repeat_every = 600 },
]
[panic]
steps = [ { after = 0, notify = ["team_managers", "on_call"], repeat_every = 300 } ]
[duress]
steps = [ { after = 0, notify = ["team_managers", "on_call"], repeat_every = 300 } ]
[incident]
steps = [ { after = 900, notify = ["team_managers"], repeat_every = 900 } ]
"""


def segments(body: str) -> int:
    """SMS parts Twilio bills for this body."""
    if set(body) <= GSM7:
        single, part = 160, 153
        length = len(body) + sum(ch in "^{}\\[~]|€" for ch in body)
    else:
        single, part = 70, 67
        length = len(body)
    return 1 if length <= single else -(-length // part)


def run(url: str, directory: Path, visits: int, max_alarms: int) -> dict[str, Any]:
    start = utcnow().replace(microsecond=0)
    clock = FrozenClock(start)
    policy = write_policy(directory, DEFAULT_POLICY)
    with open_app(url, policy, clock=clock, extra={"ESCALATION_BUNDLE_MAX_ALARMS": max_alarms}) as app:
        gateway = ConsoleSms(stream=io.StringIO(), clock=clock.now)
        app.extensions["safetycheck.sms"] = gateway
        with app.app_context():
            team = factories.make_team(now=start)
            managers = [
                factories.make_user(now=start, role=Role.MANAGER, team=team),
                factories.make_user(now=start, role=Role.MANAGER, team=team, on_call=True),
            ]
            phones = {m.phone for m in managers}
            for n in range(visits):
                worker = factories.make_user(now=start, team=team)
                visit_service.check_in(
                    worker,
                    address=f"{n + 1} Example Road, Leeds LS3 1AA",
                    now=start,
                    max_minutes=720,
                    duration_minutes=30,
                )
            db.session.commit()
            db.session.remove()
        due = start + timedelta(minutes=30)
        for minutes in (0, 10, 20):
            clock.advance(due + timedelta(minutes=minutes) - clock.now())
            report = run_sweep(app)
            assert not report.errors, report.errors
        to_managers = [m.body for m in gateway.sent if m.to in phones]
        return {
            "texts": len(gateway.sent),
            "to_managers": len(to_managers),
            "segments_to_managers": sum(segments(b) for b in to_managers),
            "longest": max((len(b) for b in to_managers), default=0),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--visits", type=int, default=100)
    args = parser.parse_args()
    account_secrets.use_fast_hashing_for_tests()
    if not 1 <= args.visits <= 140:
        parser.error("--visits: 1 to 140 (the factories' block of test phone numbers)")
    rows = []
    for label, max_alarms in (("one text per alarm", 1), ("bundled (10 a text)", 10)):
        with tempfile.TemporaryDirectory(prefix="bundling-") as tmp:
            with scratch_database(args.database_url, Path(tmp), "bench_bundling") as url:
                rows.append((label, run(url, Path(tmp), args.visits, max_alarms)))
    print(
        f"{args.visits} overdue visits in one team, two managers (one on call), sweeps at due, +10, +20 min"
    )
    print(f"{'':22} {'all texts':>10} {'to managers':>12} {'their segments':>15} {'longest':>8}")
    for label, r in rows:
        print(
            f"{label:22} {r['texts']:>10} {r['to_managers']:>12} {r['segments_to_managers']:>15} "
            f"{r['longest']:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
