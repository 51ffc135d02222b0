"""Read model and evidence log in SQL: SQLite by default, PostgreSQL by DATABASE_URL."""

from cobranza.store.store import MessageNotFound, MessageStatus, Store

__all__ = ["MessageNotFound", "MessageStatus", "Store"]
