"""Alembic migrations, applied on start and by `persona-mcp db upgrade`.

Runs programmatically (no alembic.ini to find): the script location is this package's `migrations`.
On PostgreSQL an advisory lock makes concurrent starts of several replicas apply migrations once. A
migration is not the request path: its transaction waits within `ADMIN_BOUNDS` whatever the store's
bounds (a replica starting while another migrates waits for it; an index build is not cut at 5 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from persona_mcp.store.engine import ADMIN_BOUNDS, Store

_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x7065727361  # "persa"


def alembic_config(connection: Any | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to `revision`."""
    async with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            await conn.execute(_MIGRATION_BOUNDS, _migration_bounds())
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(sync_conn), revision))


_MIGRATION_BOUNDS = text(
    "SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :statement, true), "
    "set_config('idle_in_transaction_session_timeout', :idle, true)"
)


def _migration_bounds() -> dict[str, str]:
    """`ADMIN_BOUNDS` for this transaction only (0: no bound)."""

    def ms(seconds: float | None) -> str:
        return str(round(seconds * 1000)) if seconds is not None else "0"

    bounds = ADMIN_BOUNDS
    return {
        "lock": ms(bounds.lock_timeout_s),
        "statement": ms(bounds.statement_timeout_s),
        "idle": ms(bounds.idle_in_transaction_s),
    }


async def current_revision(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
