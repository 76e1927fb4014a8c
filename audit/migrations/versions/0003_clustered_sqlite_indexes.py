"""On SQLite, keep the index tables and tree nodes clustered on their keys (WITHOUT ROWID).

A table with a composite primary key is two B-trees in SQLite (the rows by rowid, and the
key's index); WITHOUT ROWID makes it one, so every appended entry writes about 20 rows fewer
B-tree pages. PostgreSQL is unchanged.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = {
    "audit_entry_agencies": (
        "agency_id VARCHAR(64) NOT NULL, idx INTEGER NOT NULL REFERENCES audit_entries (idx), "
        "PRIMARY KEY (agency_id, idx)"
    ),
    "audit_entry_members": (
        "pseudonym VARCHAR(128) NOT NULL, idx INTEGER NOT NULL REFERENCES audit_entries (idx), "
        "PRIMARY KEY (pseudonym, idx)"
    ),
    "audit_nodes": (
        "level SMALLINT NOT NULL, position INTEGER NOT NULL, hash BLOB NOT NULL, "
        "PRIMARY KEY (level, position)"
    ),
}
"""The tables rebuilt, with their columns exactly as 0001 and 0002 made them."""


def _rebuild(*, clustered: bool) -> None:
    """Copy each table into a new one with (or without) a rowid, keeping it append-only."""
    if op.get_bind().dialect.name != "sqlite":
        return
    suffix = " WITHOUT ROWID" if clustered else ""
    for table, columns in _COLUMNS.items():
        op.execute(f"CREATE TABLE {table}_rebuilt ({columns}){suffix}")
        op.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")  # noqa: S608 - names above
        op.execute(f"DROP TABLE {table}")  # its triggers go with it
        op.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def upgrade() -> None:
    """Rebuild the three tables WITHOUT ROWID (SQLite only)."""
    _rebuild(clustered=True)


def downgrade() -> None:
    """Rebuild them with a rowid again (SQLite only)."""
    _rebuild(clustered=False)
