"""Check a pooled PostgreSQL connection at checkout only when there is reason to doubt it.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` before every request's first statement: one round
trip in nine on a check-in, for a connection that was used a few milliseconds ago. A connection
that died while it sat in the pool nearly always says so without a round trip: a restarted or
terminated server sends its FATAL message and closes the socket, so the socket is readable (or
hung up) when nothing was asked of it. This check pings only then, or when the connection is
broken, or when it has sat idle for `DATABASE_PING_AFTER_IDLE` seconds (a firewall or a proxy
may have dropped a long-idle connection without a word). A ping that fails invalidates the pool,
as `pool_pre_ping` does, so every connection opened before a restart is replaced.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

_CHECKED_IN_AT = "safetycheck.checked_in_at"
_DOUBT = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL


def check_connections_when_in_doubt(engine: Engine, ping_after_idle: float) -> None:
    """Install the checkout check on a PostgreSQL engine (instead of `pool_pre_ping`)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None:
            return  # opened for this checkout: nothing to doubt
        if not in_doubt(dbapi_connection, time.monotonic() - checked_in_at, ping_after_idle):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # As pool_pre_ping does: replace every connection opened before now, not this one only.
            raise exc.InvalidatePoolError(f"the connection failed its ping: {error}") from error


def in_doubt(dbapi_connection: Any, idle_seconds: float, ping_after_idle: float) -> bool:
    """Whether an idle psycopg connection may be dead: broken, long idle, or its socket stirred.

    An idle connection in the pool has been asked nothing, so anything on its socket (the
    server's goodbye, end of file, an error) means it needs a ping before it is trusted; a
    notification or a notice also wakes it, and costs only that one ping.
    """
    if dbapi_connection.closed or getattr(dbapi_connection, "broken", False):
        return True
    if idle_seconds >= ping_after_idle:
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), _DOUBT)
        return bool(poller.poll(0))
    except Exception:  # a closed connection has no socket to ask: ping, and so replace it
        return True
