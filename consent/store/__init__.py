"""Where consents and mandates live: SQLAlchemy 2 over SQLite (WAL) or PostgreSQL."""

from consent.database import create_store_engine, sqlite_url, sqlite_url_text
from consent.store.records import ConsentRecord, MandateRecord
from consent.store.store import ConcurrentChangeError, ConsentStore

__all__ = [
    "ConcurrentChangeError",
    "ConsentRecord",
    "ConsentStore",
    "MandateRecord",
    "create_store_engine",
    "sqlite_url",
    "sqlite_url_text",
]
