"""The long crash soak: three workers on one PostgreSQL database, hundreds of SIGKILLs, for minutes.

    createdb -h 127.0.0.1 -U postgres bench_soak   # any database on the server will do
    .venv/bin/python bench/soak.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/bench_soak --seconds 300

A scratch database is created on that server (and dropped after). `--workers` (3) real
`flask --app safetycheck worker` processes sweep it every 0.2 s and send through the twilio SDK
to a local FakeTwilio. For `--seconds`, visits fall due (`--rate` a second, every tenth a panic
instead) and each worker is SIGKILLed at a random moment within `--kill-max` seconds (2) of its
first sweep and started again at once, a third of the restarts with a crash point armed; past
`--seconds` it goes on until `--kills` (200) kills, at most `--max-seconds`. Then the survivors drain the
rest and the verdict is printed as a table (kills, steps, texts, duplicates, lost); the exit code
is 1 when anything was lost or sent twice. The engine is tests/soak/crash_soak.py; the suite runs
a 40-second version of it (tests/soak/test_crash_soak.py, PostgreSQL only).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck.accounts import secrets as account_secrets
from tests.soak.crash_soak import run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server for a scratch database")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2.0, help="visits and panics a second")
    parser.add_argument(
        "--kill-max", type=float, default=2.0, help="longest a worker sweeps before its kill (s)"
    )
    parser.add_argument("--kills", type=int, default=200, help="go on past --seconds until this many kills")
    parser.add_argument("--max-seconds", type=float, default=1200, help="but never longer than this")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stale-claim", type=float, default=1.0, help="OUTBOX_STALE_CLAIM_SECONDS")
    parser.add_argument(
        "--cli-workers",
        action="store_true",
        help="`flask --app safetycheck worker` subprocesses instead of forks of a warm fork server",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs (path printed)")
    args = parser.parse_args()
    account_secrets.use_fast_hashing_for_tests()
    tmp = tempfile.mkdtemp(prefix="soak-") if args.keep_logs else None
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        directory = Path(tmp or scratch)
        result = run_soak(
            server_url=args.database_url,
            directory=directory,
            seconds=args.seconds,
            workers=args.workers,
            visits_per_second=args.rate,
            kill_every=(0.0, args.kill_max),
            min_kills=args.kills,
            max_seconds=args.max_seconds,
            seed=args.seed,
            forked=not args.cli_workers,
            stale_claim=args.stale_claim,
            say=lambda line: print(line, flush=True),
        )
    print(result.table())
    for problem in result.problems[:50]:
        print("PROBLEM:", problem)
    if tmp:
        print(f"worker logs: {tmp}")
    return 1 if result.problems or result.duplicates or result.lost else 0


if __name__ == "__main__":
    sys.exit(main())
