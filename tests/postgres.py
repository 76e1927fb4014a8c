"""The machine's PostgreSQL for store tests: its URL, or a skip — never a skip in CI.

``.ci/run`` starts the server and sets ``SAKHA_REQUIRE_POSTGRES=1``, so there an unreachable
server fails the run instead of silently halving the store tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

REQUIRE = "SAKHA_REQUIRE_POSTGRES"
_USERS = ("root", "postgres")


def postgres_url() -> str:
    """``postgresql+psycopg://…/test`` as the first user that connects (trust auth).

    Raises:
        pytest.skip.Exception: nobody connects and the run does not require PostgreSQL.
        pytest.fail.Exception: nobody connects and ``SAKHA_REQUIRE_POSTGRES`` is set.
    """
    for user in _USERS:
        url = f"postgresql+psycopg://{user}@127.0.0.1:5432/test"
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url
        except sa.exc.OperationalError:
            continue
        finally:
            engine.dispose()
    reason = "PostgreSQL is not reachable at 127.0.0.1:5432/test as root or postgres"
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason}, and {REQUIRE}=1")
    pytest.skip(reason)


@contextmanager
def fresh_schema(prefix: str) -> Iterator[sa.URL]:
    """A new, empty schema on the machine's PostgreSQL, dropped afterwards: its URL, whose
    connections see only it (``search_path``)."""
    server = postgres_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield sa.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
