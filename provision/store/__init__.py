"""The state store: SQLite by default, PostgreSQL for teams; same code, Alembic migrations."""

from provision.store.db import HEAD_REVISION, Store

__all__ = ["HEAD_REVISION", "Store"]
