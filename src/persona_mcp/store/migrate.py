"""Alembic migrations, applied on start and by `persona-mcp db upgrade`.

Runs programmatically (no alembic.ini to find): the script location is this package's `migrations`.
On PostgreSQL an advisory lock makes concurrent starts of several replicas apply migrations once. A
migration is not the request path: its transaction waits within `ADMIN_BOUNDS` whatever the store's
bounds (a replica starting while another migrates waits for it; an index build is not cut at 5 s).

Alembic (and Mako, which it brings) is imported only when a migration may be pending: a server starting
on a database already at head reads `alembic_version` with SQLAlchemy and compares it with the newest
migration's file name, which is its revision (`tests/store/test_migrations.py` holds every migration to
that convention), so the serving process never loads the migration machinery.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text

from persona_mcp.store.engine import ADMIN_BOUNDS, Store

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x7065727361  # "persa"
_VERSION_TABLE = "alembic_version"


def head_revision() -> str | None:
    """The newest migration's revision: migrations are `versions/NNNN_<name>.py`, revision = file name
    (None if no such file is found, as in an install without sources: then Alembic decides)."""
    names = (path.stem for path in (_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return max(names, default=None)


def alembic_config(connection: Any | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to `revision`; to head, a database already there costs one read, no Alembic."""
    head = head_revision() if revision == "head" else None
    if head is not None and await _stamped(store) == {head}:
        return
    from alembic import command

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


async def _stamped(store: Store) -> set[str]:
    """The revisions `alembic_version` holds (none before the first migration)."""

    def read(conn: Connection) -> set[str]:
        if not inspect(conn).has_table(_VERSION_TABLE):
            return set()
        return {str(row[0]) for row in conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))}

    async with store.engine.connect() as conn:
        return await conn.run_sync(read)


async def current_revision(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
