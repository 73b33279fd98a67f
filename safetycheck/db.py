"""Database plumbing shared by every domain: the session class, column types and engine set-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.sql.schema import ColumnCollectionConstraint


class BindHonouringSession(FlaskSession):
    """Use an explicit `bind` when one is given.

    Flask-SQLAlchemy 3.x picks the engine itself and ignores a session's `bind`, which silently
    defeats the test recipe that binds the session to an outer, rolled-back transaction
    (pallets-eco/flask-sqlalchemy#1167). Honouring `bind` first fixes that and changes nothing in
    production, where no bind is set.
    """

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        if self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset and hands back naive datetimes; comparing those with aware ones fails
    at run time. Refusing naive input catches a missing timezone where it is written.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    # Every `Mapped[datetime]` column is a UTCDateTime; constraint names are stable for Alembic.
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


def str_enum(enum_cls: type, length: int = 20) -> sa.Enum:
    """A StrEnum column stored as its values (`"overdue"`, not `"OVERDUE"`), as a checked string.

    Not a native PostgreSQL enum: adding a value is then a migration of a CHECK, not of a type.
    """
    return sa.Enum(enum_cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` URLs managed databases hand out; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite safe for one host: WAL, a busy timeout, foreign keys, and write-locking BEGIN.

    pysqlite opens transactions lazily and never as IMMEDIATE, so two writers can both read and
    then fail to upgrade their lock. Taking the write lock at BEGIN serialises writers (readers
    still run beside them under WAL), which is what makes the sweep's claims exactly-once here:
    SQLite ignores `FOR UPDATE SKIP LOCKED`.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_unless_taken(session: Any, model: type[Any], values: dict[str, Any]) -> Any | None:
    """Insert a row and return it loaded and in the session, or None when a unique key is taken.

    One `INSERT … ON CONFLICT DO NOTHING RETURNING`: a taken key leaves the transaction usable,
    so no savepoint (two round trips) is needed to survive it, and nothing else pending is
    flushed with it (the rows it refers to must exist: their ids are in `values`).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(model).values(**values).on_conflict_do_nothing().returning(model)
    with session.no_autoflush:
        return session.scalars(statement).first()


def is_postgres(engine_or_session: Any) -> bool:
    bind = engine_or_session.get_bind() if hasattr(engine_or_session, "get_bind") else engine_or_session
    name: str = bind.dialect.name
    return name == "postgresql"


def threads_may_write_alongside(database: Any) -> bool:
    """Whether another thread, with a session and connection of its own, can write while this
    one does: not on SQLite (one writer at a time, and its busy handler starves the loser), nor
    when every session is bound to one connection (the test suite's rolled-back transaction),
    which threads must not share."""
    if database.engine.dialect.name == "sqlite":
        return False
    factory = getattr(database.session, "session_factory", None)
    bind = factory.kw.get("bind") if factory is not None else None
    return not isinstance(bind, sa.engine.Connection)


def unique_violation(error: sa.exc.IntegrityError) -> tuple[str, ...] | None:
    """The columns of the unique constraint or index a write broke; None for other integrity errors.

    A check-then-insert leaves a gap in which another transaction can take the same key; the
    database then refuses the insert, and this says which key, so the caller can name the field.
    PostgreSQL names the constraint, SQLite the columns (`users.email`) or an expression index.
    """
    orig = error.orig
    if getattr(orig, "sqlstate", None) == "23505":  # unique_violation
        return _columns_of(getattr(orig.diag, "constraint_name", None) or "")  # type: ignore[union-attr]
    message = str(orig)
    prefix = "UNIQUE constraint failed: "
    if not message.startswith(prefix):
        return None
    named = message.removeprefix(prefix)
    if named.startswith("index "):
        return _columns_of(named.removeprefix("index ").strip("'"))
    return tuple(part.rsplit(".", 1)[-1] for part in named.split(", "))


def _columns_of(name: str) -> tuple[str, ...]:
    for table in Base.metadata.tables.values():
        keys: list[sa.Index | ColumnCollectionConstraint] = [*table.indexes]
        keys += [c for c in table.constraints if isinstance(c, ColumnCollectionConstraint)]
        for key in keys:
            if key.name == name:
                return tuple(column.name for column in key.columns)
    return ()


def commit_keeping_loaded(session: Any) -> None:
    """Commit without expiring what the session holds, so that reading it afterwards costs no query.

    For a request that commits and then only reads back what it wrote itself (its answer, the
    signed-in user): the loaded values are what the database now holds, and reloading them is a
    round trip per object. Everywhere else the default (expire on commit) stays, since code that
    reads after a commit may expect what other transactions wrote.
    """
    real = session() if callable(session) else session  # the scoped_session's own Session
    previous = real.expire_on_commit
    real.expire_on_commit = False
    try:
        real.commit()
    finally:
        real.expire_on_commit = previous
