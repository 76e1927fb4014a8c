"""Alembic environment of the audit database: see :func:`consent.schema.run_migrations`."""

from __future__ import annotations

from audit.store.tables import metadata
from consent.schema import run_migrations

run_migrations(metadata)
