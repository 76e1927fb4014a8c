"""The audit database's tables (SQLAlchemy Core), mirrored by the Alembic migrations.

``audit_log`` holds one row per log (its origin, size and root): appends lock it, so entries
are sequenced by one writer at a time whichever hub writes. ``audit_entry_agencies`` and
``audit_entry_members`` index each entry's agencies and the household members it read, so a
subject report finds a person's entries as a member too. Entries, tree nodes and
checkpoints are append-only: the migration installs triggers that refuse UPDATE and DELETE.
"""

from __future__ import annotations

import sqlalchemy as sa

from consent.database import UtcDateTime

metadata = sa.MetaData()

INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(64)
HASH = sa.LargeBinary(32)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("origin", sa.String(255), primary_key=True),
    sa.Column("size", INDEX, nullable=False),
    sa.Column("root", HASH, nullable=False),
)

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("idx", INDEX, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", HASH, nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("organisation_id", NAME, nullable=False),
    sa.Column("program_id", NAME, nullable=False),
    sa.Column("outcome", NAME, nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Index("ix_audit_entries_at", "at"),
    sa.Index("ix_audit_entries_organisation_id", "organisation_id"),
    sa.Index("ix_audit_entries_program_id", "program_id"),
    sa.Index("ix_audit_entries_subject", "subject"),
)

audit_entry_agencies = sa.Table(
    "audit_entry_agencies",
    metadata,
    sa.Column("agency_id", NAME, primary_key=True),
    sa.Column("idx", INDEX, sa.ForeignKey("audit_entries.idx"), primary_key=True),
    sqlite_with_rowid=False,
)

audit_entry_members = sa.Table(
    "audit_entry_members",
    metadata,
    sa.Column("pseudonym", sa.String(128), primary_key=True),
    sa.Column("idx", INDEX, sa.ForeignKey("audit_entries.idx"), primary_key=True),
    sqlite_with_rowid=False,
)

audit_nodes = sa.Table(
    "audit_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("position", INDEX, primary_key=True, autoincrement=False),
    sa.Column("hash", HASH, nullable=False),
    sqlite_with_rowid=False,
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("size", INDEX, primary_key=True, autoincrement=False),
    sa.Column("root", HASH, nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("issued_at", UtcDateTime(), nullable=False),
)

APPEND_ONLY = (
    "audit_entries",
    "audit_entry_agencies",
    "audit_entry_members",
    "audit_nodes",
    "audit_checkpoints",
)
"""Tables whose rows are never updated or deleted (the migration enforces it)."""
