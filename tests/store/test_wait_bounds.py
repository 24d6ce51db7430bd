"""Which bounds each connection waits within: short while serving, long for admin commands (issue 11)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from persona_mcp.audit.committer import SqliteCommitter, open_committer
from persona_mcp.audit.committer_postgres import PostgresCommitter
from persona_mcp.config import StoreSettings, load_settings
from persona_mcp.store import ADMIN_BOUNDS, Store, create_store, serving_bounds, upgrade

pytestmark = pytest.mark.anyio

SHOW = (
    "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
    "current_setting('idle_in_transaction_session_timeout')"
)


async def _engine_settings(store: Store) -> tuple[str, ...]:
    async with store.engine.connect() as conn:
        return tuple((await conn.execute(text(SHOW))).one())


@pytest.mark.postgres
async def test_serving_connections_wait_within_the_store_settings_and_admin_ones_within_admin_bounds(
    postgres_schema_url: str,
) -> None:
    settings = StoreSettings(
        lock_timeout_seconds=1.5, statement_timeout_seconds=4, idle_in_transaction_timeout_seconds=7
    )
    serving = create_store(postgres_schema_url, bounds=serving_bounds(settings, outbound_timeout_s=30))
    admin = create_store(postgres_schema_url)
    try:
        await upgrade(serving)
        # Request-path transactions may outlive one outbound request (an OAuth refresh holds a row).
        assert await _engine_settings(serving) == ("1500ms", "4s", "35s")
        assert await _engine_settings(admin) == ("30s", "0", "0")
        # After the pool's rollback-on-return the bounds are still there (they were committed).
        async with serving.engine.begin() as conn:
            await conn.rollback()
        assert await _engine_settings(serving) == ("1500ms", "4s", "35s")

        committer = await open_committer(serving, None)  # type: ignore[arg-type]  # the policy is unused here
        assert isinstance(committer, PostgresCommitter)
        conn = committer._connect()
        try:
            # The audit writer's lease is the setting itself: it never waits on the network in a batch.
            assert conn.execute(SHOW).fetchone() == ("1500ms", "4s", "7s")
        finally:
            conn.close()
    finally:
        await serving.close()
        await admin.close()


async def test_sqlite_waits_the_short_busy_timeout_while_serving_and_the_writer_copies_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    serving = create_store(url, bounds=serving_bounds(StoreSettings(), outbound_timeout_s=30))
    admin = create_store(url)
    try:
        for store, expected in ((serving, 2000), (admin, ADMIN_BOUNDS.sqlite_busy_timeout_ms)):
            async with store.engine.connect() as conn:
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == expected
        assert await _audit_writer_pragma(serving, "busy_timeout") == 2000
    finally:
        await serving.close()
        await admin.close()


async def _audit_writer_pragma(store: Store, name: str) -> int:
    """`PRAGMA name` on the connection the audit writer opens for `store`."""
    committer = await open_committer(store, None)  # type: ignore[arg-type]
    assert isinstance(committer, SqliteCommitter)
    conn = committer._connect()
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def test_store_settings_come_from_the_toml_section_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "persona-mcp.toml"
    config.write_text("[store]\nlock_timeout_seconds = 3\nsqlite_busy_timeout_seconds = 4\n")
    monkeypatch.setenv("PERSONA_MCP_CONFIG", str(config))
    monkeypatch.setenv("PERSONA_MCP_STORE_LOCK_TIMEOUT_SECONDS", "0.5")

    store = load_settings().store

    assert store.lock_timeout_seconds == 0.5
    assert store.sqlite_busy_timeout_seconds == 4
    assert store.idle_in_transaction_timeout_seconds == 10


def test_a_bound_of_zero_is_refused_with_the_field_named() -> None:
    # PostgreSQL reads 0 as "no bound": it must never be configured by accident.
    with pytest.raises(ValueError, match="lock_timeout_seconds"):
        StoreSettings(lock_timeout_seconds=0)


def test_psycopg_names_the_errors_the_bounds_raise() -> None:
    # The stall classification depends on these classes (SQLSTATE 55P03 and 57014).
    assert psycopg.errors.lookup("55P03") is psycopg.errors.LockNotAvailable
    assert psycopg.errors.lookup("57014") is psycopg.errors.QueryCanceled


async def test_sqlite_copies_the_wal_back_every_few_thousand_pages_on_every_connection(
    tmp_path: Path,
) -> None:
    """SQLite's default, 1,000 pages, copied the audit writer's pages into the database file four times as
    often, a page changed by every batch (the newest leaf of the table and of each index) each time."""
    store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 4000
        assert await _audit_writer_pragma(store, "wal_autocheckpoint") == 4000
    finally:
        await store.close()
