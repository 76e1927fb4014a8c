"""The audit database's Alembic migrations, run from code (see :mod:`consent.schema`).

The audit log may share its database with the consent store: its revisions are recorded in a
table of its own, ``audit_alembic_version``. ``sakha db upgrade --db-url URL`` migrates both.
"""

from __future__ import annotations

from consent.schema import Migrations

AUDIT_MIGRATIONS = Migrations(
    store="audit", script_location="audit:migrations", version_table="audit_alembic_version"
)
"""The audit log's migrations."""
