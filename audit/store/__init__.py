"""Where the audit log lives: SQLAlchemy 2 over SQLite (WAL) or PostgreSQL, beside consent."""

from audit.store.record import AuditRecord
from audit.store.store import (
    AuditStore,
    AuditStoreError,
    EntryFilter,
    Pager,
    StoredCheckpoint,
)

__all__ = [
    "AuditRecord",
    "AuditStore",
    "AuditStoreError",
    "EntryFilter",
    "Pager",
    "StoredCheckpoint",
]
