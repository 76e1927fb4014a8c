"""Index the household members each entry read, so a member's subject report finds it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "audit_entry_members"
_FUNCTION = "sakha_audit_append_only"  # created by 0001


def upgrade() -> None:
    """Create the table, append-only like the entries it indexes."""
    op.create_table(
        _TABLE,
        sa.Column("pseudonym", sa.String(128), primary_key=True),
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("audit_entries.idx"),
            primary_key=True,
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE}"
            f" FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_{action.lower()} BEFORE {action} ON {_TABLE}"
            f" BEGIN SELECT RAISE(ABORT, '{_TABLE} is append-only'); END"
        )


def downgrade() -> None:
    """Drop the table (its triggers go with it)."""
    op.drop_table(_TABLE)
