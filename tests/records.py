"""Clearing a test database whose history tables refuse deletes (migration 0008)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session


@contextmanager
def rewrites_allowed(session: Session) -> Iterator[None]:
    """Let this transaction delete rows of the append-only tables (tests' clean-up only).

    PostgreSQL: the triggers do not fire for a session in replica mode (needs a superuser, as
    the test server's postgres is). SQLite has no such switch: its triggers are dropped and made
    again from their own definitions, inside the same transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        yield
        return
    saved = session.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
    for name, _ in saved:
        session.execute(sa.text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        for _, sql in saved:
            session.execute(sa.text(sql))
