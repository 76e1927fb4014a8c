"""The consent database's tables (SQLAlchemy Core), mirrored by the Alembic migrations.

The migrations create the schema; this metadata is what the store queries through, and a
test proves the two agree. History tables are append-only: the migration installs triggers
that refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

import sqlalchemy as sa

from consent.database import UtcDateTime

metadata = sa.MetaData()

ID = sa.String(64)
NAME = sa.String(64)
STATUS = sa.String(16)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("subject", sa.String(10), nullable=False, index=True),
    sa.Column("organisation_id", NAME, nullable=False),
    sa.Column("program_id", NAME, nullable=False),
    sa.Column("purpose_code", NAME, nullable=False),
    sa.Column("fetch_type", STATUS, nullable=False),
    sa.Column("valid_from", UtcDateTime(), nullable=False),
    sa.Column("valid_until", UtcDateTime(), nullable=False),
    sa.Column("kid", NAME, nullable=False),
    sa.Column("jws", sa.Text(), nullable=False),
    sa.Column("status", STATUS, nullable=False),
    sa.Column("use_count", sa.Integer(), nullable=False),
    sa.Column("last_used_at", UtcDateTime(), nullable=True),
    sa.Column("supersedes", ID, sa.ForeignKey("consents.id"), nullable=True, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("status_changed_at", UtcDateTime(), nullable=False),
)


def _history(name: str, owner: str, owner_table: str) -> sa.Table:
    """An append-only table of status changes of the rows of ``owner_table``."""
    return sa.Table(
        name,
        metadata,
        sa.Column("seq", SEQ, primary_key=True),
        sa.Column(owner, ID, sa.ForeignKey(f"{owner_table}.id"), nullable=False, index=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("from_status", STATUS, nullable=True),
        sa.Column("to_status", STATUS, nullable=False),
    )


consent_history = _history("consent_history", "consent_id", "consents")

consent_uses = sa.Table(
    "consent_uses",
    metadata,
    sa.Column("seq", SEQ, primary_key=True),
    sa.Column("consent_id", ID, sa.ForeignKey("consents.id"), nullable=False),
    sa.Column("used_at", UtcDateTime(), nullable=False),
    sa.Column("organisation_id", NAME, nullable=False),
    sa.Column("program_id", NAME, nullable=False),
    sa.Column("purpose_code", NAME, nullable=False),
    sa.Index("ix_consent_uses_consent_id_used_at", "consent_id", "used_at"),
)

mandates = sa.Table(
    "mandates",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("legal_reference", sa.Text(), nullable=False),
    sa.Column("issuing_authority", sa.Text(), nullable=False),
    sa.Column("valid_from", UtcDateTime(), nullable=False),
    sa.Column("valid_until", UtcDateTime(), nullable=True),
    sa.Column("kid", NAME, nullable=False),
    sa.Column("jws", sa.Text(), nullable=False),
    sa.Column("status", STATUS, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("status_changed_at", UtcDateTime(), nullable=False),
)

mandate_history = _history("mandate_history", "mandate_id", "mandates")

APPEND_ONLY = ("consent_history", "mandate_history")
"""Tables whose rows are never updated or deleted (the migration enforces it)."""
