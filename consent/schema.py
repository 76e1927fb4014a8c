"""Running a store's Alembic migrations from code, and refusing a database not at their head.

One :class:`Migrations` per store (the consent store here, the audit log too): each has its own
scripts and its own version table, so both may live in one database. Serving code never creates
tables: the operator runs ``sakha db upgrade --db-url URL``, and a store calls
:meth:`Migrations.require_schema` when it opens.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from consent.database import create_store_engine, writing
from consent.errors import SchemaError

MIGRATE_COMMAND = "sakha db upgrade --db-url {url}"
"""The command that brings the database at ``url`` to the head revision of every store."""

VERSION_TABLE = "version_table"
"""The Alembic config attribute naming a store's version table (read by its ``env.py``)."""


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


@dataclass(frozen=True)
class Migrations:
    """One store's migrations.

    Attributes:
        store: what the store is called in messages ("consent", "audit").
        script_location: where Alembic finds its scripts (``package:folder``).
        version_table: the table that records its revision.
    """

    store: str
    script_location: str
    version_table: str

    def _config(self, connection: sa.Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes[VERSION_TABLE] = self.version_table
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head(self) -> str:
        """The newest revision this code knows."""
        heads = ScriptDirectory.from_config(self._config()).get_heads()
        if len(heads) != 1:
            raise SchemaError(f"the {self.store} migrations have {len(heads)} heads; expected one")
        return heads[0]

    def upgrade(self, target: str | sa.URL | sa.Engine, revision: str = "head") -> None:
        """Migrate the database at ``target`` (URL or engine) to ``revision`` in one transaction."""
        owned = not isinstance(target, sa.Engine)
        engine = target if isinstance(target, sa.Engine) else create_store_engine(target)
        try:
            with writing(engine) as connection:
                command.upgrade(self._config(connection), revision)
        finally:
            if owned:
                engine.dispose()

    def current_revision(self, engine: sa.Engine) -> str | None:
        """The revision the database is at; None when it was never migrated."""
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": self.version_table}
            )
            return context.get_current_revision()

    def check_schema(self, engine: sa.Engine) -> SchemaCheck:
        """Compare the database's revision with :meth:`head`."""
        current = self.current_revision(engine)
        newest = self.head()
        if current is None:
            state = SchemaState.EMPTY
        elif current == newest:
            state = SchemaState.AT_HEAD
        else:
            script = ScriptDirectory.from_config(self._config())
            known = {rev.revision for rev in script.walk_revisions()}
            state = SchemaState.OLDER if current in known else SchemaState.NEWER
        return SchemaCheck(current, newest, state)

    def require_schema(self, engine: sa.Engine) -> None:
        """Raise :class:`SchemaError`, naming the command to run, unless at the head."""
        check = self.check_schema(engine)
        if check.state is SchemaState.AT_HEAD:
            return
        where = engine.url.render_as_string(hide_password=True)
        if check.state is SchemaState.NEWER:
            raise SchemaError(
                f"the {self.store} database {where} is at revision {check.current}, newer than "
                f"this code's {check.head}: upgrade Sakha"
            )
        said = "has no tables" if check.state is SchemaState.EMPTY else f"is at {check.current}"
        raise SchemaError(
            f"the {self.store} database {where} {said}; this code needs {check.head}: run "
            f"`{MIGRATE_COMMAND.format(url=where)}`"
        )


def run_migrations(metadata: sa.MetaData) -> None:
    """The body of every store's Alembic ``env.py``: run its scripts through the connection
    :meth:`Migrations.upgrade` passes, recording the revision in the store's own table.

    There is no offline (SQL script) mode and no URL in an ini file.
    """
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError("run a store's migrations with its Migrations.upgrade(url)")
    context.configure(
        connection=connection,
        version_table=context.config.attributes[VERSION_TABLE],
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()
