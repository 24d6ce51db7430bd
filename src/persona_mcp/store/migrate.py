"""Alembic migrations, applied on start and by `persona-mcp db upgrade`.

Runs programmatically (no alembic.ini to find): the script location is this package's `migrations`.
On PostgreSQL an advisory lock makes concurrent starts of several replicas apply migrations once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from persona_mcp.store.engine import Store

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
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(sync_conn), revision))


async def current_revision(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
