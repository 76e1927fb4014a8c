"""Alembic environment of the consent database: see :func:`consent.schema.run_migrations`."""

from __future__ import annotations

from consent.schema import run_migrations
from consent.store.tables import metadata

run_migrations(metadata)
