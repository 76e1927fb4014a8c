"""The consent database's Alembic migrations, run from code: :func:`upgrade` and friends.

Serving code never creates tables: the operator runs ``sakha db upgrade --db-url URL`` (or
``python -m consent.migrations URL``; both call :func:`upgrade`), and the store calls
:func:`require_schema` when it opens, refusing a database that is not at :func:`head`.
"""

from __future__ import annotations

from consent.schema import MIGRATE_COMMAND, Migrations, SchemaCheck, SchemaState

CONSENT_MIGRATIONS = Migrations(
    store="consent", script_location="consent:migrations", version_table="alembic_version"
)
"""The consent store's migrations (scripts in this package, revisions in ``alembic_version``)."""

head = CONSENT_MIGRATIONS.head
upgrade = CONSENT_MIGRATIONS.upgrade
current_revision = CONSENT_MIGRATIONS.current_revision
check_schema = CONSENT_MIGRATIONS.check_schema
require_schema = CONSENT_MIGRATIONS.require_schema

__all__ = [
    "CONSENT_MIGRATIONS",
    "MIGRATE_COMMAND",
    "SchemaCheck",
    "SchemaState",
    "check_schema",
    "current_revision",
    "head",
    "require_schema",
    "upgrade",
]
