"""The stores' database (consent, and the audit log beside it): an engine for SQLite in WAL
mode by default, PostgreSQL by URL, and the UTC timestamp type both use.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock at
once, so two writers never both read a consent as unused and then both spend it); reads
start with a plain ``BEGIN`` and, under WAL, never wait for a writer. On PostgreSQL the
store takes row locks (``SELECT … FOR UPDATE``) instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect

WRITE = "sakha_store_write"
"""The execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for the write lock before failing."""


def sqlite_url(path: str) -> sa.URL:
    """The URL of the SQLite file at ``path``."""
    return sa.URL.create("sqlite+pysqlite", database=path)


def sqlite_url_text(path: str) -> str:
    """:func:`sqlite_url` as the text a config key or a command line takes."""
    return sqlite_url(path).render_as_string(hide_password=False)


def _sqlite_connected(dbapi_connection: Any, connection_record: object) -> None:
    del connection_record
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    # Every commit reaches the disk before it returns: an audit entry is durable before its
    # reply leaves, a consent's use before its check goes ahead (FULL is SQLite's default
    # build setting; said here so that no build's default can weaken it).
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction on ``engine`` (``BEGIN IMMEDIATE`` on SQLite), committed at the end."""
    connection = engine.connect().execution_options(**{WRITE: True})
    with connection, connection.begin():
        yield connection


@contextmanager
def reading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read transaction on ``engine`` (never waits for a writer under WAL)."""
    with engine.connect() as connection, connection.begin():
        yield connection


def create_store_engine(url: str | sa.URL, *, existing: bool = False, **kwargs: Any) -> sa.Engine:
    """An engine for the store database at ``url`` (consent, audit), configured for them.

    Args:
        url: ``sqlite+pysqlite:///path`` (WAL is switched on) or a PostgreSQL URL.
        existing: refuse a SQLite file that does not exist, rather than create it (for
            commands that only read, such as an auditor's export).
        kwargs: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        ValueError: an in-memory SQLite database, or (``existing``) no file at the path.
    """
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, **kwargs)
    if url.database in (None, "", ":memory:"):
        raise ValueError("the consent store needs a SQLite file, not an in-memory database")
    if existing and not Path(url.database).is_file():
        raise ValueError(f"no SQLite database at {url.database}")
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset: it is UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Store UTC; naive values are refused rather than guessed."""
        del dialect
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("a naive datetime cannot be stored: give it a UTC offset")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        """Read back as an aware UTC datetime."""
        del dialect
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class EngineStore:
    """A store over one engine: its transactions (:func:`writing`, :func:`reading`) and
    :meth:`close`. The consent store and the audit log are both one."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def close(self) -> None:
        """Close the engine's connections."""
        self._engine.dispose()

    def _write(self) -> AbstractContextManager[sa.Connection]:
        return writing(self._engine)

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return reading(self._engine)
