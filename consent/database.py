"""The consent database: an engine for SQLite in WAL mode by default, PostgreSQL by URL.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock at
once, so two writers never both read a consent as unused and then both spend it); reads
start with a plain ``BEGIN`` and, under WAL, never wait for a writer. On PostgreSQL the
store takes row locks (``SELECT … FOR UPDATE``) instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

WRITE = "sakha_consent_write"
"""The execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for the write lock before failing."""


def sqlite_url(path: str) -> sa.URL:
    """The URL of the SQLite file at ``path``."""
    return sa.URL.create("sqlite+pysqlite", database=path)


def _sqlite_connected(dbapi_connection: Any, connection_record: object) -> None:
    del connection_record
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_consent_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An engine for the consent database at ``url``, configured for the store.

    Args:
        url: ``sqlite+pysqlite:///path`` (WAL is switched on) or a PostgreSQL URL.
        kwargs: passed to :func:`sqlalchemy.create_engine`.
    """
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, **kwargs)
    if url.database in (None, "", ":memory:"):
        raise ValueError("the consent store needs a SQLite file, not an in-memory database")
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine
