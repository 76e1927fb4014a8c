"""Alembic environment of the consent database: run through :func:`consent.migrations.upgrade`.

The caller passes an open connection in ``config.attributes["connection"]``; there is no
offline (SQL script) mode and no URL in an ini file.
"""

from __future__ import annotations

from alembic import context

from consent.schema import VERSION_TABLE
from consent.store.tables import metadata

_connection = context.config.attributes.get("connection")
if _connection is None or context.is_offline_mode():
    raise RuntimeError("run the consent migrations with consent.migrations.upgrade(url)")
context.configure(
    connection=_connection,
    version_table=context.config.attributes[VERSION_TABLE],
    target_metadata=metadata,
    compare_type=True,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
