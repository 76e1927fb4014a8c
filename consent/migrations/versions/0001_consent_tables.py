"""The first consent tables: consents, their history and uses, mandates and their history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.String(64)
_NAME = sa.String(64)
_STATUS = sa.String(16)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY = ("consent_history", "mandate_history")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _history(name: str, owner: str, owner_table: str) -> None:
    op.create_table(
        name,
        sa.Column("seq", _SEQ, primary_key=True),
        sa.Column(owner, _ID, sa.ForeignKey(f"{owner_table}.id"), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("from_status", _STATUS, nullable=True),
        sa.Column("to_status", _STATUS, nullable=False),
    )
    op.create_index(f"ix_{name}_{owner}", name, [owner])


def _refuse_changes() -> None:
    """Triggers that make the history tables append-only."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION sakha_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION sakha_append_only()"
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
        "consents",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("subject", sa.String(10), nullable=False),
        sa.Column("organisation_id", _NAME, nullable=False),
        sa.Column("program_id", _NAME, nullable=False),
        sa.Column("purpose_code", _NAME, nullable=False),
        sa.Column("fetch_type", _STATUS, nullable=False),
        sa.Column("valid_from", _time(), nullable=False),
        sa.Column("valid_until", _time(), nullable=False),
        sa.Column("kid", _NAME, nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", _time(), nullable=True),
        sa.Column("supersedes", _ID, sa.ForeignKey("consents.id"), nullable=True, unique=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("status_changed_at", _time(), nullable=False),
    )
    op.create_index("ix_consents_subject", "consents", ["subject"])
    _history("consent_history", "consent_id", "consents")
    op.create_table(
        "consent_uses",
        sa.Column("seq", _SEQ, primary_key=True),
        sa.Column("consent_id", _ID, sa.ForeignKey("consents.id"), nullable=False),
        sa.Column("used_at", _time(), nullable=False),
        sa.Column("organisation_id", _NAME, nullable=False),
        sa.Column("program_id", _NAME, nullable=False),
        sa.Column("purpose_code", _NAME, nullable=False),
    )
    op.create_index("ix_consent_uses_consent_id_used_at", "consent_uses", ["consent_id", "used_at"])
    op.create_table(
        "mandates",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("legal_reference", sa.Text(), nullable=False),
        sa.Column("issuing_authority", sa.Text(), nullable=False),
        sa.Column("valid_from", _time(), nullable=False),
        sa.Column("valid_until", _time(), nullable=True),
        sa.Column("kid", _NAME, nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("status_changed_at", _time(), nullable=False),
    )
    _history("mandate_history", "mandate_id", "mandates")
    _refuse_changes()


def downgrade() -> None:
    """Drop the tables (and, on PostgreSQL, the trigger function)."""
    for table in ("mandate_history", "mandates", "consent_uses", "consent_history", "consents"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION sakha_append_only()")
