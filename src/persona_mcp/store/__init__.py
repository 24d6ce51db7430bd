"""Database engine, tables and migrations (SQLite by default, PostgreSQL for several replicas)."""

from persona_mcp.store.engine import Store, create_store, normalise_url
from persona_mcp.store.migrate import upgrade

__all__ = ["Store", "create_store", "normalise_url", "upgrade"]
