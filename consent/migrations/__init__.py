"""The consent database's Alembic migrations, run from code: :func:`upgrade` and friends.

Serving code never creates tables: the operator runs ``sakha db upgrade --db-url URL`` (or
``python -m consent.migrations URL``; both call :func:`upgrade`), and the hub calls
:func:`require_schema` at start-up to refuse a database that is not at :data:`head`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from consent.database import WRITE, create_consent_engine
from consent.errors import SchemaError

SCRIPT_LOCATION = "consent:migrations"
"""Where Alembic finds the scripts (a package resource, so it works installed)."""

MIGRATE_COMMAND = "sakha db upgrade --db-url {url}"
"""The command that brings the consent database at ``url`` to the head revision."""


class SchemaState(enum.StrEnum):
    """Where a database stands against the migrations this code carries."""

    EMPTY = "EMPTY"
    OLDER = "OLDER"
    AT_HEAD = "AT_HEAD"
    NEWER = "NEWER"


@dataclass(frozen=True)
class SchemaCheck:
    """The database's revision (None when unmigrated), the code's head, and the verdict."""

    current: str | None
    head: str
    state: SchemaState


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows."""
    heads = ScriptDirectory.from_config(_config()).get_heads()
    if len(heads) != 1:
        raise SchemaError(f"the consent migrations have {len(heads)} heads; expected one")
    return heads[0]


def _engine(target: str | sa.URL | sa.Engine) -> tuple[sa.Engine, bool]:
    if isinstance(target, sa.Engine):
        return target, False
    return create_consent_engine(target), True


def upgrade(target: str | sa.URL | sa.Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (URL or engine) to ``revision`` in one transaction."""
    engine, owned = _engine(target)
    try:
        connection = engine.connect().execution_options(**{WRITE: True})
        with connection, connection.begin():
            command.upgrade(_config(connection), revision)
    finally:
        if owned:
            engine.dispose()


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: sa.Engine) -> SchemaCheck:
    """Compare the database's revision with :func:`head`."""
    current = current_revision(engine)
    newest = head()
    if current is None:
        state = SchemaState.EMPTY
    elif current == newest:
        state = SchemaState.AT_HEAD
    else:
        script = ScriptDirectory.from_config(_config())
        known = {rev.revision for rev in script.walk_revisions()}
        state = SchemaState.OLDER if current in known else SchemaState.NEWER
    return SchemaCheck(current, newest, state)


def require_schema(engine: sa.Engine) -> None:
    """Raise :class:`SchemaError`, naming the command to run, unless the database is at head."""
    check = check_schema(engine)
    if check.state is SchemaState.AT_HEAD:
        return
    where = engine.url.render_as_string(hide_password=True)
    if check.state is SchemaState.NEWER:
        raise SchemaError(
            f"the consent database {where} is at revision {check.current}, newer than this "
            f"code's {check.head}: upgrade Sakha"
        )
    said = "has no tables" if check.state is SchemaState.EMPTY else f"is at {check.current}"
    raise SchemaError(
        f"the consent database {where} {said}; this code needs {check.head}: run "
        f"`{MIGRATE_COMMAND.format(url=where)}`"
    )
