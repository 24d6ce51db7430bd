"""Database engine, tables and migrations (SQLite by default, PostgreSQL for several replicas)."""

from persona_mcp.store.engine import (
    ADMIN_BOUNDS,
    Store,
    WaitBounds,
    create_store,
    normalise_url,
    serving_bounds,
)
from persona_mcp.store.migrate import upgrade

__all__ = [
    "ADMIN_BOUNDS",
    "Store",
    "WaitBounds",
    "create_store",
    "normalise_url",
    "serving_bounds",
    "upgrade",
]
