"""Alembic environment of the audit database: run through ``AUDIT_MIGRATIONS.upgrade``.

The caller passes an open connection in ``config.attributes["connection"]``; there is no
offline (SQL script) mode and no URL in an ini file.
"""

from __future__ import annotations

from alembic import context

from audit.store.tables import metadata
from consent.schema import VERSION_TABLE

_connection = context.config.attributes.get("connection")
if _connection is None or context.is_offline_mode():
    raise RuntimeError("run the audit migrations with AUDIT_MIGRATIONS.upgrade(url)")
context.configure(
    connection=_connection,
    version_table=context.config.attributes[VERSION_TABLE],
    target_metadata=metadata,
    compare_type=True,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
