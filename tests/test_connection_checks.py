"""Pooled PostgreSQL connections are pinged only when in doubt, and a dead one is never handed out.

What goes over the wire is read from libpq's own trace of the connection, so "no ping" means no
ping reached the server, not that a function of ours was skipped.
"""

from __future__ import annotations

import os
import select
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck import create_app
from safetycheck.connection_checks import check_connections_when_in_doubt, in_doubt
from safetycheck.db import normalise_database_url
from safetycheck.extensions import db
from safetycheck.settings import ConfigError

SERVER_URL = os.environ.get("SAFETYCHECK_TEST_DATABASE_URL", "")
ON_POSTGRES = SERVER_URL.startswith(("postgres://", "postgresql"))


def pool_of_one(ping_after_idle: float | None) -> sa.Engine:
    """A real pool of one connection to the test server; `None` installs no check at all."""
    engine = sa.create_engine(normalise_database_url(SERVER_URL), pool_size=1, max_overflow=0)
    if ping_after_idle is not None:
        check_connections_when_in_doubt(engine, ping_after_idle)
    return engine


def backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    return pid


@contextmanager
def wire_trace(engine: sa.Engine) -> Iterator[list[str]]:
    """The query messages the pool's one connection sends while the block runs (libpq's trace)."""
    with engine.connect() as conn:
        pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
    queries: list[str] = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        try:
            yield queries
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode().splitlines():
                fields = [field.strip() for field in line.split("\t")]
                if "F" in fields[:2] and ("Query" in fields or "Parse" in fields):
                    queries.append(line)


def is_ping(message: str) -> bool:
    """SQLAlchemy's ping: an empty statement (";") with psycopg, `SELECT 1` elsewhere."""
    return '";"' in message or '"SELECT 1"' in message


def terminate(pid: int) -> None:
    admin = sa.create_engine(normalise_database_url(SERVER_URL), poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        # With a timeout it returns once the backend is gone (its goodbye sent), as after a restart.
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar_one()
    admin.dispose()


def wait_for_goodbye(fd: int) -> None:
    """Block (at most 10 s, returning as soon as it comes) until the server's FATAL reaches `fd`."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    assert poller.poll(10_000), "the server's goodbye never reached the socket"


def postgres(test: Any) -> Any:
    """Run only against a PostgreSQL server (the suite's SAFETYCHECK_TEST_DATABASE_URL)."""
    skip = pytest.mark.skipif(not ON_POSTGRES, reason="the check is for PostgreSQL connections")
    return pytest.mark.postgres_only(skip(test))


def second_use(ping_after_idle: float) -> list[str]:
    """What a pool of one sends the second time its connection is used, just after the first."""
    engine = pool_of_one(ping_after_idle)
    try:
        backend_pid(engine)
        with wire_trace(engine) as queries, engine.connect() as conn:
            conn.execute(sa.text("SELECT 2"))
    finally:
        engine.dispose()
    assert any("SELECT 2" in q for q in queries), queries
    return queries


@postgres
def test_a_connection_used_a_moment_ago_is_used_without_a_ping() -> None:
    queries = second_use(ping_after_idle=30)
    assert not any(is_ping(q) for q in queries), queries


@postgres
def test_a_connection_idle_past_the_setting_is_pinged_first() -> None:
    queries = second_use(ping_after_idle=0)
    pings = [i for i, q in enumerate(queries) if is_ping(q)]
    assert pings, queries
    assert pings[0] < next(i for i, q in enumerate(queries) if "SELECT 2" in q), queries


@postgres
@pytest.mark.parametrize("ping_after_idle", [30, None], ids=["checked", "unchecked"])
def test_a_connection_whose_server_side_went_away_is_replaced_not_handed_out(
    ping_after_idle: float | None,
) -> None:
    """The server ends the pooled connection (as a restart does) a moment after its last use.

    Checked, the next request gets a new connection and succeeds; unchecked (the control, no
    ping at all), the same request fails: the test can tell the two apart.
    """
    engine = pool_of_one(ping_after_idle)
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
        terminate(first)
        wait_for_goodbye(fd)
        if ping_after_idle is None:
            with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_backend_pid()"))
            return
        assert backend_pid(engine) != first
    finally:
        engine.dispose()


@postgres
def test_a_closed_connection_is_in_doubt_whatever_its_idle_time() -> None:
    engine = pool_of_one(ping_after_idle=None)
    try:
        with engine.connect() as conn:
            dbapi_connection = conn.connection.dbapi_connection
            assert dbapi_connection is not None
            assert not in_doubt(dbapi_connection, idle_seconds=0.0, ping_after_idle=30)
            assert in_doubt(dbapi_connection, idle_seconds=30.0, ping_after_idle=30)
            conn.invalidate()
        assert in_doubt(dbapi_connection, idle_seconds=0.0, ping_after_idle=30)
    finally:
        engine.dispose()


@postgres
def test_the_app_checks_in_doubt_instead_of_pinging_every_request(base_config: dict[str, Any]) -> None:
    app = create_app({**base_config, "DATABASE_URL": SERVER_URL})
    with app.app_context():
        assert db.engine.pool._pre_ping is False
        with db.engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
        terminate(first)
        wait_for_goodbye(fd)
        with db.engine.connect() as conn:  # the app's pool hands out a new connection, no error
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != first
        db.engine.dispose()
    chosen = create_app(
        {**base_config, "DATABASE_URL": SERVER_URL, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}
    )
    with chosen.app_context():
        assert db.engine.pool._pre_ping is True  # an operator's choice stands
        db.engine.dispose()


class SocketOnly:
    """Just what `in_doubt` asks of a psycopg connection, over a real socket (runs on SQLite too)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.closed, self.broken = sock, False, False

    def fileno(self) -> int:
        return self.sock.fileno()


def test_an_idle_socket_is_trusted_and_one_the_server_spoke_or_hung_up_on_is_not() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        connection = SocketOnly(ours)
        assert not in_doubt(connection, idle_seconds=1.0, ping_after_idle=30)
        assert in_doubt(connection, idle_seconds=30.0, ping_after_idle=30)  # idle too long
        connection.broken = True
        assert in_doubt(connection, idle_seconds=1.0, ping_after_idle=30)
        connection.broken = False
        theirs.sendall(b"E")  # the server's FATAL, unasked
        assert in_doubt(connection, idle_seconds=1.0, ping_after_idle=30)
        ours.recv(1)
        assert not in_doubt(connection, idle_seconds=1.0, ping_after_idle=30)
        theirs.close()  # hung up
        assert in_doubt(connection, idle_seconds=1.0, ping_after_idle=30)
    assert in_doubt(connection, idle_seconds=1.0, ping_after_idle=30)  # no socket left to ask


def test_a_negative_ping_setting_stops_start_up(base_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_DATABASE_PING_AFTER_IDLE"):
        create_app({**base_config, "DATABASE_PING_AFTER_IDLE": -1})
