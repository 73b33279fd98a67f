"""The WSGI app that `bench/api_throughput.py` runs under gunicorn: the real app, and two bare
endpoints beside it under the same workers, so that all three are measured on equal terms.

    /bare/json    a small JSON object from a bare Flask app: the floor of any request
    /bare/write   one INSERT and COMMIT through psycopg on the same database: the floor of any write

The bare endpoints live here, in the benchmark, never in the product. Settings come from the
environment as for `safetycheck run` (SAFETYCHECK_DATABASE_URL, ...); BENCH_WRITE_DSN is the
psycopg connection string for the bare write.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetycheck import create_app

WRITE_TABLE = "bench_bare_writes"

bare = Flask("bench_bare")
_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    """One connection per worker, opened after gunicorn forks (a connection must not be shared)."""
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_WRITE_DSN"])
        _local.conn = conn
    return conn


@bare.get("/json")
def bare_json() -> Any:
    return jsonify({"status": "ok", "id": 1})


@bare.post("/write")
def bare_write() -> Any:
    conn = _connection()
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {WRITE_TABLE} (body) VALUES (%s) RETURNING id", ("bare write",))
        row = cur.fetchone()
    conn.commit()
    return jsonify({"id": row[0] if row else None}), 201


app = create_app()
application = DispatcherMiddleware(app.wsgi_app, {"/bare": bare.wsgi_app})
