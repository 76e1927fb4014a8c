"""The first audit tables: the log head, entries, their agencies, tree nodes and checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NAME = sa.String(64)
_HASH = sa.LargeBinary(32)
_APPEND_ONLY = ("audit_entries", "audit_entry_agencies", "audit_nodes", "audit_checkpoints")
_FUNCTION = "sakha_audit_append_only"


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _refuse_changes() -> None:
    """Triggers that make the log's tables append-only."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()"
            )
        return
    for table in _APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "audit_log",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("size", _INDEX, nullable=False),
        sa.Column("root", _HASH, nullable=False),
    )
    op.create_table(
        "audit_entries",
        sa.Column("idx", _INDEX, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", _HASH, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("organisation_id", _NAME, nullable=False),
        sa.Column("program_id", _NAME, nullable=False),
        sa.Column("outcome", _NAME, nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
    )
    for column in ("at", "organisation_id", "program_id", "subject"):
        op.create_index(f"ix_audit_entries_{column}", "audit_entries", [column])
    op.create_table(
        "audit_entry_agencies",
        sa.Column("agency_id", _NAME, primary_key=True),
        sa.Column("idx", _INDEX, sa.ForeignKey("audit_entries.idx"), primary_key=True),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("position", _INDEX, primary_key=True, autoincrement=False),
        sa.Column("hash", _HASH, nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", _INDEX, primary_key=True, autoincrement=False),
        sa.Column("root", _HASH, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("issued_at", _time(), nullable=False),
    )
    _refuse_changes()


def downgrade() -> None:
    """Drop the tables (and, on PostgreSQL, the trigger function)."""
    for table in (*reversed(_APPEND_ONLY), "audit_log"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {_FUNCTION}()")
